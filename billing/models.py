"""Plans, subscriptions, payments and the payment provider's webhook events."""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q

FREE_PLAN = "free"


class Currency(models.TextChoices):
    INR = "INR", "Indian rupee"


class Interval(models.TextChoices):
    MONTHLY = "monthly", "Monthly"
    YEARLY = "yearly", "Yearly"


class Plan(models.Model):
    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    code = models.SlugField(max_length=40, unique=True, help_text="Stable identifier, e.g. `pro`; stored on the user.")
    name = models.CharField(max_length=100)
    description = models.CharField(max_length=300, blank=True)
    storage_quota = models.BigIntegerField(help_text="Bytes a subscriber may store.")
    device_limit = models.PositiveIntegerField(null=True, blank=True, help_text="Empty = no limit.")
    price = models.PositiveBigIntegerField(help_text="Per interval, in paise (₹1 = 100).")
    currency = models.CharField(max_length=3, choices=Currency.choices, default=Currency.INR)
    interval = models.CharField(max_length=10, choices=Interval.choices, default=Interval.MONTHLY)
    is_active = models.BooleanField(default=True, help_text="Inactive plans are neither listed nor sold.")
    sort_order = models.IntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["sort_order", "price", "code"]
        constraints = [
            models.CheckConstraint(condition=Q(storage_quota__gt=0), name="%(app_label)s_%(class)s_quota_positive"),
            models.CheckConstraint(condition=Q(device_limit__isnull=True) | Q(device_limit__gte=1),
                                   name="%(app_label)s_%(class)s_device_limit_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"

    @property
    def is_free(self) -> bool:
        return self.price == 0


class SubscriptionStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    PAST_DUE = "past_due", "Past due"  # period over, still in the grace days
    CANCELLED = "cancelled", "Cancelled"
    EXPIRED = "expired", "Expired"


class Subscription(models.Model):
    """The user's paid plan, one row per user (kept after it ends, as history)."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="subscription")
    plan = models.ForeignKey(Plan, on_delete=models.PROTECT, related_name="subscriptions")
    status = models.CharField(max_length=10, choices=SubscriptionStatus.choices, default=SubscriptionStatus.ACTIVE)
    current_period_start = models.DateTimeField()
    current_period_end = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True, help_text="When it was cancelled or expired.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at"]
        indexes = [models.Index(fields=["status", "current_period_end"], name="billing_sub_status_end")]

    def __str__(self) -> str:
        return f"{self.user} · {self.plan.code} · {self.status}"


class PaymentStatus(models.TextChoices):
    CREATED = "created", "Created"  # order made, nothing paid yet
    PAID = "paid", "Paid"
    FAILED = "failed", "Failed"  # the last attempt failed; a later one may still succeed
    REFUNDED = "refunded", "Refunded"  # fully refunded


class Gateway(models.TextChoices):
    RAZORPAY = "razorpay", "Razorpay"
    OFFLINE = "offline", "Offline (local)"


class Payment(models.Model):
    """One order at the gateway and what became of it. `activated_at` marks the one
    activation the payment gave; it is set at most once."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="payments")
    plan = models.ForeignKey(Plan, on_delete=models.PROTECT, related_name="payments")
    gateway = models.CharField(max_length=10, choices=Gateway.choices)
    order_id = models.CharField(max_length=64, unique=True)
    payment_id = models.CharField(max_length=64, unique=True, null=True, blank=True)
    receipt = models.CharField(max_length=40, unique=True)
    amount = models.PositiveBigIntegerField(help_text="Paise, from the plan when the order was made.")
    currency = models.CharField(max_length=3, choices=Currency.choices)
    status = models.CharField(max_length=10, choices=PaymentStatus.choices, default=PaymentStatus.CREATED)
    refunded_amount = models.PositiveBigIntegerField(default=0)
    error_code = models.CharField(max_length=100, blank=True)
    error_description = models.CharField(max_length=500, blank=True)
    paid_at = models.DateTimeField(null=True, blank=True)
    activated_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["user", "-created_at"], name="billing_payment_user_created")]

    def __str__(self) -> str:
        return f"{self.order_id} · {self.amount / 100:.2f} {self.currency} · {self.status}"


class WebhookStatus(models.TextChoices):
    RECEIVED = "received", "Received"
    PROCESSED = "processed", "Processed"
    IGNORED = "ignored", "Ignored"  # nothing to do (unknown order or event type, stale)
    FAILED = "failed", "Failed"  # refused, e.g. amount does not match the order


class WebhookEvent(models.Model):
    """Every signed webhook, recorded once by its event id before it is processed."""

    event_id = models.CharField(max_length=100, unique=True)
    event = models.CharField(max_length=60, help_text="e.g. payment.captured")
    payload = models.JSONField()
    status = models.CharField(max_length=10, choices=WebhookStatus.choices, default=WebhookStatus.RECEIVED)
    order_id = models.CharField(max_length=64, blank=True, db_index=True)
    error = models.CharField(max_length=500, blank=True)
    received_at = models.DateTimeField(auto_now_add=True)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-received_at", "-id"]

    def __str__(self) -> str:
        return f"{self.event} {self.event_id}"
