"""Billing reads shared by the API and the admin."""

from django.db.models import QuerySet

from accounts.models import User

from .models import FREE_PLAN, Payment, Plan, Subscription


def plans_listed() -> QuerySet[Plan]:
    return Plan.objects.filter(is_active=True)


def payments_for(user: User) -> QuerySet[Payment]:
    return Payment.objects.filter(user=user).select_related("plan").order_by("-created_at", "-id")


def subscription_status(user: User) -> dict:
    """What the user has now: the plan whose limits apply, the subscription (if any
    was ever bought), and the limits and usage as the quota checks see them."""
    fresh = User.objects.values("plan", "storage_quota", "plan_storage_quota", "storage_quota_override",
                                "storage_used", "storage_reserved", "device_limit").get(pk=user.pk)
    code = fresh.pop("plan")
    plan = Plan.objects.filter(code=code).first() or Plan.objects.filter(code=FREE_PLAN).first()
    sub = Subscription.objects.select_related("plan").filter(user=user).first()
    return {"plan": plan, "subscription": sub, **fresh}
