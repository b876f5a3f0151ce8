"""Every write of the previews domain: asking for previews, making them, sweeping.

A blob's previews are made together by one task run: it claims the blob's rows
(PENDING → PROCESSING with a fresh job id), reads and renders outside any
transaction, writes each image to the row's fixed key, and ends with a short
transaction that marks the rows READY, FAILED or UNSUPPORTED — only if its claim
still holds, so a re-run or a late duplicate is harmless.
"""

import hashlib
import logging
import time
import uuid
from collections.abc import Iterable
from datetime import timedelta

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from files.models import Blob
from storage_site.core import storage
from storage_site.core.exceptions import StorageUnavailable

from . import selectors
from .mime import CONTENT_TYPES, kind_from_mime, looks_like_markup, sniff
from .models import MediaKind, Preview, PreviewStatus, PreviewType
from .sources import source_open

logger = logging.getLogger(__name__)

ACTIVE = (PreviewStatus.PENDING, PreviewStatus.PROCESSING)


class Outcome:
    QUEUED = "queued"
    SKIPPED = "skipped"  # ready already, or in progress
    UNSUPPORTED = "unsupported"


def render_options():
    from . import render  # the decoders load in the process that renders, not in every web process

    return render.Options(sizes={PreviewType.THUMBNAIL: settings.PREVIEW_THUMBNAIL_SIZE,
                                 PreviewType.MEDIUM: settings.PREVIEW_MEDIUM_SIZE},
                          format=settings.PREVIEW_FORMAT, quality=settings.PREVIEW_QUALITY,
                          max_pixels=settings.PREVIEW_MAX_PIXELS)


def _stale_before():
    """A PROCESSING row older than this lost its worker (killed, hard time limit)."""
    return timezone.now() - timedelta(seconds=settings.PREVIEW_TASK_TIME_LIMIT + 60)


# --- asking for previews -------------------------------------------------------------

def previews_request(*, blobs: dict[int, str], force: bool = False, retry_failed: bool = True,
                     heads: dict[int, bytes] | None = None) -> dict[int, str]:
    """Ask for the previews of blobs ({blob_id: declared MIME type}); returns an
    `Outcome` per blob. Ready or in-progress previews are left alone unless
    `force`; content whose declared type gets no preview (text, SVG, archives) is
    marked UNSUPPORTED without a task, unless `force` (the worker then sniffs it).
    `heads` ({blob_id: first bytes}, as an upload saw them) answer for content whose
    declared type says nothing (octet-stream): when they show no kind either, the
    worker would find none, so no task is queued for it."""
    outcomes: dict[int, str] = {}
    queue: list[int] = []
    now = timezone.now()
    with transaction.atomic():
        existing: dict[int, dict[str, Preview]] = {}
        for row in Preview.objects.select_for_update().filter(blob_id__in=list(blobs)):
            existing.setdefault(row.blob_id, {})[row.preview_type] = row
        alive = set(Blob.objects.filter(pk__in=list(blobs)).values_list("pk", flat=True))
        for blob_id, mime in blobs.items():
            if blob_id not in alive:
                continue
            rows = existing.get(blob_id, {})
            hint = kind_from_mime(mime)
            outcome = _decide(rows, hint=hint, force=force, retry_failed=retry_failed,
                              head=(heads or {}).get(blob_id))
            outcomes[blob_id] = outcome
            if outcome == Outcome.SKIPPED:
                continue
            kind = hint if hint and hint != MediaKind.OTHER else (next(iter(rows.values())).media_kind if rows
                                                                  else MediaKind.OTHER)
            if outcome == Outcome.UNSUPPORTED:
                fields = {"status": PreviewStatus.UNSUPPORTED, "media_kind": MediaKind.OTHER, "finished_at": now,
                          "error": "No preview is made for this type of file.", "job": None}
            else:
                fields = {"status": PreviewStatus.PENDING, "media_kind": kind, "queued_at": now, "error": "",
                          "job": None}
                queue.append(blob_id)
            try:
                # A savepoint for each of several blobs; for one (every upload asks for one), a
                # failure rolls the whole request back, which is all it had done (two statements less).
                with transaction.atomic(savepoint=len(blobs) > 1):
                    Preview.objects.bulk_create([Preview(blob_id=blob_id, preview_type=preview_type, **fields)
                                                 for preview_type in PreviewType.values if preview_type not in rows])
                    for row in rows.values():
                        Preview.objects.filter(pk=row.pk).update(**fields)
            except IntegrityError:  # a parallel request created them first, and queues them
                outcomes[blob_id] = Outcome.SKIPPED
                if queue and queue[-1] == blob_id:
                    queue.pop()
        for blob_id in queue:
            transaction.on_commit(lambda blob_id=blob_id: preview_enqueue(blob_id=blob_id), robust=True)
    return outcomes


def _decide(rows: dict[str, Preview], *, hint: str | None, force: bool, retry_failed: bool,
            head: bytes | None = None) -> str:
    statuses = {row.preview_type: row.status for row in rows.values()}
    complete = len(statuses) == len(PreviewType.values)
    if not force and complete:
        if all(s == PreviewStatus.READY for s in statuses.values()):
            return Outcome.SKIPPED
        if all(s == PreviewStatus.UNSUPPORTED for s in statuses.values()):
            return Outcome.UNSUPPORTED
        stale = _stale_before()
        if any(s == PreviewStatus.PENDING or (s == PreviewStatus.PROCESSING and rows[t].started_at
                                              and rows[t].started_at >= stale) for t, s in statuses.items()):
            return Outcome.SKIPPED
        if not retry_failed and any(s == PreviewStatus.FAILED for s in statuses.values()):
            return Outcome.SKIPPED
    if hint == MediaKind.OTHER and not force:
        return Outcome.UNSUPPORTED
    # New content of no declared kind whose first bytes show none (nor markup, which the
    # worker refuses in other words): the worker would sniff the same bytes, find this
    # upload's type the only one declared, and stop there.
    if hint is None and not rows and not force and head is not None and sniff(head) is None and \
            not looks_like_markup(head):
        return Outcome.UNSUPPORTED
    return Outcome.QUEUED


def preview_enqueue(*, blob_id: int) -> None:
    from .tasks import preview_generate_task

    preview_generate_task.apply_async((blob_id,), queue=settings.PREVIEW_QUEUE or None)


# --- making them ---------------------------------------------------------------------

def preview_generate(*, blob_id: int) -> str:
    """Make the previews of one blob; returns the resulting status (or 'skipped'
    when there was nothing to claim). Safe to run twice."""
    job = uuid.uuid4()
    now = timezone.now()
    claimed = Preview.objects.filter(blob_id=blob_id).filter(
        Q(status=PreviewStatus.PENDING) | Q(status=PreviewStatus.PROCESSING, started_at__lt=_stale_before()),
    ).update(status=PreviewStatus.PROCESSING, job=job, started_at=now, attempts=F("attempts") + 1)
    if not claimed:
        return "skipped"
    from . import render  # see render_options()

    rows = {row.preview_type: row for row in Preview.objects.filter(blob_id=blob_id, job=job).select_related("blob")}
    if not rows:  # the blob was collected meanwhile (its rows went with it), or a forced run took them over
        return "skipped"
    blob = next(iter(rows.values())).blob
    started = time.perf_counter()
    try:
        with source_open(blob.storage_key, blob.size) as source:
            # The declared types cost a query: asked for only when sniffing finds nothing.
            result = render.render(source, declared=lambda: selectors.declared_types(blob_id=blob_id),
                                   options=render_options())
    except render.Unsupported as unsupported:
        return _finish(job, rows, status=PreviewStatus.UNSUPPORTED, kind=unsupported.kind,
                       metadata=unsupported.metadata, error=unsupported.reason, started=started)
    except StorageUnavailable:
        _release(job)
        raise
    except SoftTimeLimitExceeded:
        return _finish(job, rows, status=PreviewStatus.FAILED, kind=None, metadata={}, started=started,
                       error=f"Gave up after {settings.PREVIEW_TASK_SOFT_TIME_LIMIT} s.")
    except Exception as exc:  # a bad file fails its preview, never the worker
        logger.info("preview of blob %s failed: %s", blob_id, exc, exc_info=not isinstance(exc, OSError))
        return _finish(job, rows, status=PreviewStatus.FAILED, kind=None, metadata={}, started=started,
                       error=render.describe(exc))

    try:
        for preview_type, row in rows.items():  # fixed keys: a re-run overwrites, nothing leaks
            storage.put_bytes(row.storage_key, result.images[preview_type].data)
    except StorageUnavailable:
        _release(job)
        raise
    status = _finish(job, rows, status=PreviewStatus.READY, kind=result.kind, metadata=result.metadata,
                     images=result.images, started=started)
    if status != PreviewStatus.READY and not Blob.objects.filter(pk=blob_id).exists():
        for row in rows.values():  # the blob went while we worked: its rows' delete hook ran before the write
            storage.delete(row.storage_key)
    return status


def _release(job) -> None:
    """Give claimed rows back, so the retry of the task (storage outage) can claim them."""
    Preview.objects.filter(job=job).update(status=PreviewStatus.PENDING, job=None)


def _finish(job, rows: dict[str, Preview], *, status: str, kind: str | None, metadata: dict, started: float,
            error: str = "", images: dict | None = None) -> str:
    took = round((time.perf_counter() - started) * 1000)
    content_type = CONTENT_TYPES[settings.PREVIEW_FORMAT]
    updated = 0
    with transaction.atomic():
        for preview_type, row in rows.items():
            fields = {"status": status, "metadata": metadata, "error": error[:500], "took_ms": took,
                      "finished_at": timezone.now(), "job": None}
            if kind:
                fields["media_kind"] = kind
            encoded = (images or {}).get(preview_type)
            if encoded:
                fields.update(width=encoded.width, height=encoded.height, bytes=len(encoded.data),
                              sha256=hashlib.sha256(encoded.data).hexdigest(), content_type=content_type)
            else:
                fields.update(width=None, height=None, bytes=None, sha256="", content_type="")
            updated += Preview.objects.filter(pk=row.pk, job=job).update(**fields)
    return status if updated else "superseded"


# --- upkeep --------------------------------------------------------------------------

def previews_sweep() -> dict:
    """Rows a lost worker left PROCESSING become FAILED, and an image it wrote before
    it stopped is deleted (never served, so never kept); PENDING rows whose task
    vanished (a flushed broker) are queued again."""
    lost = dict(Preview.objects.filter(status=PreviewStatus.PROCESSING, started_at__lt=_stale_before())
                .values_list("pk", "storage_key"))
    failed = 0
    for pk, key in lost.items():  # one by one: a row that became ready meanwhile keeps its image
        if Preview.objects.filter(pk=pk, status=PreviewStatus.PROCESSING).update(
                status=PreviewStatus.FAILED, job=None, finished_at=timezone.now(),
                error="The worker stopped or hit the hard time limit while making this preview."):
            failed += 1
            storage.delete(key)
    cutoff = timezone.now() - timedelta(seconds=settings.PREVIEW_REQUEUE_AFTER)
    stuck = list(Preview.objects.filter(status=PreviewStatus.PENDING, queued_at__lt=cutoff)
                 .order_by("blob_id").values_list("blob_id", flat=True).distinct()[:1000])
    if stuck:
        Preview.objects.filter(blob_id__in=stuck, status=PreviewStatus.PENDING).update(queued_at=timezone.now())
        for blob_id in stuck:
            preview_enqueue(blob_id=blob_id)
    return {"failed": failed, "requeued": len(stuck)}


def previews_regenerate(*, blob_ids: Iterable[int]) -> int:
    """Make the previews of these blobs again (admin action, management command)."""
    blob_ids = list(blob_ids)
    mimes = dict.fromkeys(blob_ids, "")
    outcomes = previews_request(blobs=mimes, force=True)
    return sum(1 for outcome in outcomes.values() if outcome == Outcome.QUEUED)


def preview_object_delete(*, key: str) -> None:
    """A deleted row's image goes after the commit that deleted the row."""
    transaction.on_commit(lambda: storage.delete(key))
