"""Storage quota: reserve before bytes are accepted, then commit or release.

Each step is one conditional UPDATE on the user's row, so two racing uploads can
never pass the quota together, whatever the database.

Every byte in `storage_reserved` has an owner that can be found again after a
crash: an open upload session (its `reserved`, for as long as the session lives),
or a `QuotaHold` row (a request reading bytes). A hold carries a lease that the
request renews while bytes flow; a hold whose lease ran out belongs to a request
that died, and `quota_holds_expire` (Celery beat, `check_invariants --reconcile`)
gives its bytes back.
"""

import time
from contextlib import contextmanager
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from storage_site.core.exceptions import ApplicationError, QuotaExceeded

from .models import QuotaHold, User


class HoldExpired(ApplicationError):
    """The request was silent longer than its hold's lease and the sweep gave the bytes back."""

    status_code = 408
    code = "UPLOAD_TIMEOUT"
    message = "The upload stalled for too long and was dropped; send it again."


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


def quota_charge(*, user: User, size: int) -> None:
    """Turn `size` bytes nobody held into usage, if they fit (QuotaExceeded if not)."""
    charged = User.objects.filter(
        pk=user.pk, storage_quota__gte=F("storage_used") + F("storage_reserved") + size
    ).update(storage_used=F("storage_used") + size)
    if not charged:
        raise QuotaExceeded()


def quota_release(*, user: User, size: int) -> None:
    User.objects.filter(pk=user.pk).update(storage_reserved=F("storage_reserved") - size)


def quota_refund(*, user_id: int, size: int) -> None:
    """Bytes deleted for good."""
    User.objects.filter(pk=user_id).update(storage_used=F("storage_used") - size)


def quota_available(user: User) -> int:
    fresh = User.objects.values("storage_quota", "storage_used", "storage_reserved").get(pk=user.pk)
    return max(0, fresh["storage_quota"] - fresh["storage_used"] - fresh["storage_reserved"])


def quota_available_known(user: User) -> int:
    """As `quota_available`, from the row as `user` was read (no query): for a check
    whose answer the commit confirms."""
    return max(0, user.storage_quota - user.storage_used - user.storage_reserved)


def _lease() -> timedelta:
    return timedelta(seconds=settings.QUOTA_HOLD_LEASE_SECONDS)


class Reservation:
    """Bytes held for one upload. With a `hold_id` the bytes are a `QuotaHold` row
    (a request's own hold, `quota_held`); without, they belong to an upload session
    that records them itself. `held` is this process's view; the row is the truth."""

    def __init__(self, *, user: User, size: int, hold_id: int | None = None):
        self.user = user
        self.held = size
        self.hold_id = hold_id
        self._renewed = time.monotonic()

    def _hold_change(self, delta: int) -> None:
        """Add `delta` to the hold row (inside the caller's transaction); a row the sweep
        took means this request lost its bytes."""
        if self.hold_id is not None and not QuotaHold.objects.filter(pk=self.hold_id).update(
                size=F("size") + delta, lease_until=timezone.now() + _lease()):
            raise HoldExpired()

    def grow(self, size: int) -> None:
        """Hold more (the upload turned out bigger than first declared)."""
        if size > 0:
            with transaction.atomic():
                quota_reserve(user=self.user, size=size)
                self._hold_change(size)
            self.held += size

    def commit(self, size: int) -> None:
        """Turn `size` held bytes into usage. Call inside the transaction that stores
        the file, then `committed(size)` once that transaction has succeeded."""
        self._hold_change(-size)
        quota_commit(user=self.user, size=size)

    def committed(self, size: int) -> None:
        self.held -= size

    def hand_over(self, size: int) -> None:
        """`size` held bytes become an upload session's (which adds them to its own
        `reserved` in the same transaction): the user's total does not change. A hold
        handed over whole goes with them: its row is deleted now, so `release` finds
        nothing to drop (rolled back, the row is back and `release` drops it)."""
        if self.hold_id is not None and size == self.held:
            if not QuotaHold.objects.filter(pk=self.hold_id).delete()[0]:
                raise HoldExpired()
        else:
            self._hold_change(-size)
        self.held -= size

    def renew(self) -> None:
        """Bytes are flowing: push the lease on (one UPDATE per quarter lease at most)."""
        if self.hold_id is None or time.monotonic() - self._renewed < settings.QUOTA_HOLD_LEASE_SECONDS / 4:
            return
        self._renewed = time.monotonic()
        if not QuotaHold.objects.filter(pk=self.hold_id).update(lease_until=timezone.now() + _lease()):
            raise HoldExpired()

    def release(self) -> None:
        """Give back whatever is still held."""
        if self.hold_id is None:
            if self.held > 0:
                quota_release(user=self.user, size=self.held)
        else:
            _hold_drop(QuotaHold.objects.filter(pk=self.hold_id))
        self.held = 0


class ChargedAtCommit(Reservation):
    """Nothing held ahead: `commit` takes the bytes from the quota in one conditional
    UPDATE, inside the transaction that stores the file. For a small body, read whole
    before its commit: no hold row, no lease, nothing to give back (three transactions
    fewer than `quota_held`), and the quota is as exact."""

    def grow(self, size: int) -> None:
        self.held += max(size, 0)

    def commit(self, size: int) -> None:
        quota_charge(user=self.user, size=size)

    def hand_over(self, size: int) -> None:
        """The session that takes the bytes holds them: they are reserved now (if they fit)."""
        quota_reserve(user=self.user, size=size)
        self.held -= size

    def renew(self) -> None:
        pass

    def release(self) -> None:
        self.held = 0


def quota_hold_open(*, user: User, size: int, purpose: str) -> Reservation:
    """Reserve `size` bytes under a leased hold (release it with `Reservation.release`)."""
    with transaction.atomic():
        quota_reserve(user=user, size=size)
        hold = QuotaHold.objects.create(owner=user, size=size, purpose=purpose, lease_until=timezone.now() + _lease())
    return Reservation(user=user, size=size, hold_id=hold.pk)


@contextmanager
def quota_held(*, user: User, size: int, purpose: str = "upload"):
    """Reserve `size` bytes for the block; whatever it does not commit is released."""
    reservation = quota_hold_open(user=user, size=size, purpose=purpose)
    try:
        yield reservation
    finally:
        reservation.release()


def _hold_drop(holds) -> int:
    """Delete the hold rows of `holds`, giving their bytes back; each row is taken by one
    caller only (its owner's release or the sweep, never both). Returns the rows dropped."""
    dropped = 0
    for pk in holds.values_list("pk", flat=True):
        with transaction.atomic():
            # The write first: it locks the row (PostgreSQL) or the database (SQLite), so the
            # size read next is the one deleted.
            if not holds.filter(pk=pk).update(size=F("size")):
                continue
            hold = QuotaHold.objects.select_related("owner").get(pk=pk)
            hold.delete()
            if hold.size:
                quota_release(user=hold.owner, size=hold.size)
            dropped += 1
    return dropped


def quota_holds_expire() -> int:
    """Periodic: release the holds whose lease ran out (their request died). Returns how many."""
    return _hold_drop(QuotaHold.objects.filter(lease_until__lt=timezone.now()).order_by("lease_until"))
