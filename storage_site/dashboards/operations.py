"""Operators' maintenance across apps: usage counters, orphaned objects, the storage check.

Each function serves both a management command (which passes `progress` to drive
a progress bar) and, where it runs on a schedule, a Celery task (tasks.py).
Storage is reached through Django's storage API and core/storage.py only.
"""

import logging
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.core.files.storage import storages
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from accounts.models import User
from files.models import Blob, FileVersion, UploadPart, UploadSession, UploadStatus
from storage_site.core import storage

logger = logging.getLogger(__name__)

Progress = Callable[[int], None] | None

BLOB_PREFIX = "blobs"  # blob_key_new(): blobs/<2 hex>/<32 hex>; other prefixes belong to other apps
OPEN_UPLOADS = [UploadStatus.UPLOADING, UploadStatus.ASSEMBLING]
_BATCH = 500


def _tick(progress: Progress, n: int = 1) -> None:
    if progress is not None and n:
        progress(n)


# --- usage counters -------------------------------------------------------------------

@dataclass
class UsageFix:
    user_id: int
    username: str
    recorded: int
    actual: int

    @property
    def delta(self) -> int:
        return self.actual - self.recorded


def usage_recompute(*, user_ids: list[int] | None = None, dry_run: bool = False,
                    progress: Progress = None) -> list[UsageFix]:
    """Set each user's `storage_used` to the bytes of their file versions (live,
    older versions, trash), the figure every upload and purge keeps in step.
    Returns the users whose counter was wrong.

    Per batch of users: lock their rows, then sum. Uploads and purges change usage
    under the same row lock, so a commit in flight either finished before the sum
    (and is counted) or applies its +/- after this write (and stays correct).
    `storage_reserved` is left alone: requests in flight hold reservations that
    only they know about."""
    users = User.objects.order_by("pk")
    if user_ids is not None:
        users = users.filter(pk__in=user_ids)
    ids = list(users.values_list("pk", flat=True))
    fixes: list[UsageFix] = []
    for start in range(0, len(ids), _BATCH):
        batch = ids[start:start + _BATCH]
        with transaction.atomic(durable=True):
            rows = User.objects.select_for_update().filter(pk__in=batch).order_by("pk")
            recorded = {row["pk"]: row for row in rows.values("pk", "username", "storage_used")}
            actual = dict(FileVersion.objects.filter(node__owner_id__in=batch).values_list("node__owner_id")
                          .annotate(total=Sum("size")).order_by())
            for pk, row in recorded.items():
                if row["storage_used"] != actual.get(pk, 0):
                    fixes.append(UsageFix(pk, row["username"], row["storage_used"], actual.get(pk, 0)))
                    if not dry_run:
                        User.objects.filter(pk=pk).update(storage_used=actual.get(pk, 0))
        _tick(progress, len(batch))
    for fix in fixes:
        logger.warning("usage of user %s %s: recorded %s, actual %s", fix.user_id,
                       "would be corrected" if dry_run else "corrected", fix.recorded, fix.actual)
    return fixes


# --- orphaned objects under blobs/ ----------------------------------------------------------

@dataclass
class Orphan:
    key: str
    modified: object
    size: int | None


def _blob_keys() -> Iterator[list[str]]:
    """Every object key under blobs/, a directory (up to a few thousand keys) at a time."""
    backend = storages["default"]
    try:
        directories, files = backend.listdir(BLOB_PREFIX)
    except FileNotFoundError:  # local storage before the first upload
        return
    if files:
        yield [f"{BLOB_PREFIX}/{name}" for name in files]
    for directory in sorted(directories):
        _, files = backend.listdir(f"{BLOB_PREFIX}/{directory}")
        if files:
            yield [f"{BLOB_PREFIX}/{directory}/{name}" for name in files]


def _known(keys: list[str]) -> set[str]:
    known: set[str] = set()
    for start in range(0, len(keys), _BATCH):
        chunk = keys[start:start + _BATCH]
        known.update(Blob.objects.filter(storage_key__in=chunk).values_list("storage_key", flat=True))
        known.update(UploadPart.objects.filter(storage_key__in=chunk).values_list("storage_key", flat=True))
        known.update(UploadSession.objects.filter(storage_key__in=chunk, status__in=OPEN_UPLOADS)
                     .values_list("storage_key", flat=True))
    return known


def orphans_find(*, grace: timedelta | None = None, progress: Progress = None) -> list[Orphan]:
    """Objects under blobs/ that no Blob row, upload part or open upload names, and
    older than `grace`: uploads write their object before its row exists, so a
    young unknown object is probably still being committed."""
    grace = grace if grace is not None else timedelta(hours=settings.ORPHAN_GRACE_HOURS)
    cutoff = timezone.now() - grace
    backend = storages["default"]
    orphans = []
    for keys in _blob_keys():
        known = _known(keys)
        for key in keys:
            if key in known:
                continue
            try:
                modified = backend.get_modified_time(key)
            except FileNotFoundError:  # deleted meanwhile
                continue
            if modified < cutoff:
                orphans.append(Orphan(key, modified, _size(key)))
        _tick(progress, len(keys))
    return orphans


def _size(key: str) -> int | None:
    try:
        return storage.size(key)
    except Exception:
        return None


def orphans_collect(*, grace: timedelta | None = None, dry_run: bool = False, progress: Progress = None) -> list[Orphan]:
    """Delete the orphans `orphans_find` reports (each re-checked against the
    database just before its delete). Returns what was (or would be) deleted."""
    orphans = orphans_find(grace=grace, progress=progress)
    if dry_run:
        return orphans
    deleted = []
    for orphan in orphans:
        if _known([orphan.key]):  # became a blob since the listing
            continue
        storage.delete(orphan.key)
        deleted.append(orphan)
        logger.info("deleted orphaned object %s (%s bytes)", orphan.key, orphan.size)
    return deleted


@dataclass
class StrayMultipart:
    key: str
    upload_id: str
    initiated: object


def _open_multipart_ids() -> set[str]:
    return set(UploadSession.objects.filter(status__in=OPEN_UPLOADS).exclude(multipart_id="")
               .values_list("multipart_id", flat=True))


def multipart_strays_find(*, grace: timedelta | None = None) -> list[StrayMultipart]:
    """S3 multipart uploads under blobs/ that no open upload session owns, started
    before `grace`. A writer that could not abort (S3 was down) leaves one behind, and
    S3 keeps (and bills) its parts until someone aborts it. Sessions create theirs
    just before their row, hence the grace."""
    if not storage.is_s3():
        return []
    grace = grace if grace is not None else timedelta(hours=settings.ORPHAN_GRACE_HOURS)
    cutoff, owned = timezone.now() - grace, _open_multipart_ids()
    return [StrayMultipart(key, upload_id, initiated) for key, upload_id, initiated
            in storage.multipart_uploads(BLOB_PREFIX) if upload_id not in owned and initiated < cutoff]


def multipart_strays_collect(*, grace: timedelta | None = None, dry_run: bool = False) -> list[StrayMultipart]:
    """Abort what `multipart_strays_find` reports (each re-checked just before)."""
    strays = multipart_strays_find(grace=grace)
    if dry_run:
        return strays
    aborted = []
    for stray in strays:
        if stray.upload_id in _open_multipart_ids():
            continue
        storage.multipart_abort(stray.key, stray.upload_id)
        aborted.append(stray)
        logger.info("aborted stray multipart upload %s of %s", stray.upload_id, stray.key)
    return aborted


# --- storage check ---------------------------------------------------------------------------

@dataclass
class CheckReport:
    checked: int = 0
    missing: list[str] = field(default_factory=list)
    wrong_size: list[tuple[str, int, int]] = field(default_factory=list)  # key, expected, found
    unreadable: list[tuple[str, str]] = field(default_factory=list)  # key, error
    hashed: int = 0
    wrong_hash: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.missing or self.wrong_size or self.unreadable or self.wrong_hash)


def storage_check(*, sample: int = 10, progress: Progress = None, rng: random.Random | None = None) -> CheckReport:
    """Every blob's object exists with the recorded size; `sample` of them, picked
    at random while walking, are read whole and re-hashed."""
    rng = rng or random.Random()
    report = CheckReport()
    picked: list[tuple[str, int, str]] = []  # reservoir sample of (key, size, sha256)
    rows = Blob.objects.order_by("pk").values_list("storage_key", "size", "sha256")
    for key, size, sha256 in rows.iterator(chunk_size=2000):
        report.checked += 1
        try:
            found = storage.size(key)
        except Exception as exc:
            if _missing(key):
                report.missing.append(key)
            else:
                report.unreadable.append((key, f"{type(exc).__name__}: {exc}"[:200]))
            _tick(progress)
            continue
        if found != size:
            report.wrong_size.append((key, size, found))
        elif sample:
            if len(picked) < sample:
                picked.append((key, size, sha256))
            else:
                slot = rng.randrange(report.checked)
                if slot < sample:
                    picked[slot] = (key, size, sha256)
        _tick(progress)
    for key, size, sha256 in picked:
        try:
            found_size, found_sha = storage.object_sha256(key)
        except Exception as exc:
            report.unreadable.append((key, f"{type(exc).__name__}: {exc}"[:200]))
            continue
        report.hashed += 1
        if (found_size, found_sha) != (size, sha256):
            report.wrong_hash.append(key)
    return report


def _missing(key: str) -> bool:
    try:
        return not storage.exists(key)
    except Exception:
        return False  # cannot tell: reported as unreadable
