"""Storage quota: reserve before bytes are accepted, then commit or release.

Each step is one conditional UPDATE on the user's row, so two racing uploads can
never pass the quota together, whatever the database.
"""

from contextlib import contextmanager

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


class Reservation:
    """Bytes held for one upload. What is not turned into usage is released on exit."""

    def __init__(self, *, user: User, size: int):
        self.user = user
        self.held = size

    def grow(self, size: int) -> None:
        """Hold more (the upload turned out bigger than first declared)."""
        if size > 0:
            quota_reserve(user=self.user, size=size)
            self.held += size

    def commit(self, size: int) -> None:
        """Turn `size` held bytes into usage. Call inside the transaction that stores
        the file, then `committed(size)` once that transaction has succeeded."""
        quota_commit(user=self.user, size=size)

    def committed(self, size: int) -> None:
        self.held -= size


@contextmanager
def quota_held(*, user: User, size: int):
    """Reserve `size` bytes for the block; whatever it does not commit is released."""
    quota_reserve(user=user, size=size)
    reservation = Reservation(user=user, size=size)
    try:
        yield reservation
    finally:
        if reservation.held > 0:
            quota_release(user=user, size=reservation.held)
