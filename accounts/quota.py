"""Storage quota: reserve before bytes are accepted, then commit or release.

Each step is one conditional UPDATE on the user's row, so two racing uploads can
never pass the quota together, whatever the database.
"""

from django.db.models import F

from storage_site.core.exceptions import QuotaExceeded

from .models import User


def quota_reserve(*, user: User, size: int) -> None:
    if size < 0:
        raise ValueError("size must not be negative")
    reserved = User.objects.filter(
        pk=user.pk, storage_quota__gte=F("storage_used") + F("storage_reserved") + size
    ).update(storage_reserved=F("storage_reserved") + size)
    if not reserved:
        raise QuotaExceeded()


def quota_commit(*, user: User, size: int) -> None:
    """Turn a reservation into usage."""
    User.objects.filter(pk=user.pk).update(storage_reserved=F("storage_reserved") - size,
                                           storage_used=F("storage_used") + size)


def quota_release(*, user: User, size: int) -> None:
    User.objects.filter(pk=user.pk).update(storage_reserved=F("storage_reserved") - size)


def quota_refund(*, user_id: int, size: int) -> None:
    """Bytes deleted for good."""
    User.objects.filter(pk=user_id).update(storage_used=F("storage_used") - size)


def quota_available(user: User) -> int:
    fresh = User.objects.values("storage_quota", "storage_used", "storage_reserved").get(pk=user.pk)
    return max(0, fresh["storage_quota"] - fresh["storage_used"] - fresh["storage_reserved"])
