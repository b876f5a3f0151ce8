"""Reads of the previews domain that the API, the admin and the command share."""

import logging
from urllib.parse import parse_qs

from django.conf import settings
from django.db.models import Avg, Count, OuterRef, Subquery, Sum

from files.models import FileVersion
from folders.models import Node

from .models import MediaKind, Preview, PreviewStatus, PreviewType

logger = logging.getLogger(__name__)


def file_blob_id(node: Node) -> int | None:
    """The blob of a file node's current version."""
    return FileVersion.objects.filter(node=node, number=node.version).values_list("blob_id", flat=True).first()


def files_with_blobs(user, uuids: list) -> dict[str, tuple[str, int]]:
    """{file uuid: (MIME type, blob id)} of the user's own live files among `uuids`."""
    current = FileVersion.objects.filter(node=OuterRef("pk"), number=OuterRef("version")).values("blob_id")[:1]
    rows = (Node.objects.for_owner(user).live().files().filter(uuid__in=uuids)
            .annotate(blob_id=Subquery(current)).values_list("uuid", "mime_type", "blob_id"))
    return {str(uuid): (mime, blob_id) for uuid, mime, blob_id in rows if blob_id is not None}


def declared_types(*, blob_id: int) -> list[str]:
    """The MIME types files of this content were uploaded with, most recent first."""
    mimes = FileVersion.objects.filter(blob_id=blob_id).order_by("-created_at").values_list("mime_type", flat=True)
    return list(dict.fromkeys(mimes[:20]))


def previews_of(blob_id: int) -> dict[str, Preview]:
    return {row.preview_type: row for row in Preview.objects.filter(blob_id=blob_id)}


def overall_status(rows: dict[str, Preview]) -> str:
    """One status for a file: `none` before anything was asked for."""
    statuses = {row.status for row in rows.values()}
    if not statuses:
        return "none"
    for status in (PreviewStatus.PROCESSING, PreviewStatus.PENDING, PreviewStatus.FAILED):
        if status in statuses:
            return status
    if statuses == {PreviewStatus.READY} and len(rows) == len(PreviewType.values):
        return PreviewStatus.READY
    return PreviewStatus.UNSUPPORTED if PreviewStatus.UNSUPPORTED in statuses else PreviewStatus.PENDING


def preview_url(file_uuid, preview_type: str) -> str:
    return f"/api/files/{file_uuid}/preview/{preview_type}"


def preview_info(node: Node, blob_id: int | None) -> dict:
    rows = previews_of(blob_id) if blob_id else {}
    any_row = next(iter(rows.values()), None)
    previews = {}
    for preview_type in PreviewType.values:
        row = rows.get(preview_type)
        if row is None:
            previews[preview_type] = {"status": "none", "url": None}
            continue
        ready = row.status == PreviewStatus.READY
        previews[preview_type] = {
            "status": row.status,
            "url": preview_url(node.uuid, preview_type) if ready else None,
            "width": row.width, "height": row.height, "bytes": row.bytes,
            "format": row.content_type.split("/")[-1] if row.content_type else None,
            "contentType": row.content_type or None,
            "tookMs": row.took_ms, "attempts": row.attempts, "error": row.error or None,
            "queuedAt": row.queued_at, "generatedAt": row.finished_at if ready else None,
        }
    return {
        "fileId": str(node.uuid),
        "status": overall_status(rows),
        "mediaKind": any_row.media_kind if any_row else None,
        "media": any_row.metadata if any_row else {},
        "tookMs": any_row.took_ms if any_row else None,
        "error": next((row.error for row in rows.values() if row.error), None),
        "previews": previews,
    }


# --- operators -----------------------------------------------------------------------

def _by(rows, field: str, values) -> dict:
    counts = {value: dict.fromkeys(PreviewStatus.values, 0) for value in values}
    for row in rows.values(field, "status").annotate(n=Count("pk")).order_by():
        counts.setdefault(row[field], dict.fromkeys(PreviewStatus.values, 0))[row["status"]] = row["n"]
    return counts


def broker_queue_length(queue: str) -> int | None:
    """Messages waiting in the broker's queue (Redis LLEN), or None without a Redis broker."""
    url = settings.CELERY_BROKER_URL
    if url.startswith("redis+socket://"):  # kombu's unix-socket form (`make run`) in redis-py's words
        path, _, query = url.removeprefix("redis+socket://").partition("?")
        url = f"unix://{path}?db={parse_qs(query).get('virtual_host', ['0'])[0]}"
    if not url.startswith(("redis://", "rediss://", "unix://")):
        return None
    try:
        import redis

        client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        try:
            return int(client.llen(queue))
        finally:
            client.close()
    except Exception as exc:  # the broker is down: say so, do not fail the page
        logger.warning("could not read the length of queue %s: %s", queue, exc)
        return None


def analytics(*, failures: int = 20) -> dict:
    previews = Preview.objects.all()
    by_status = dict.fromkeys(PreviewStatus.values, 0)
    for row in previews.values("status").annotate(n=Count("pk")).order_by():
        by_status[row["status"]] = row["n"]
    # One run makes every type of a blob: count each blob once, by its thumbnail row.
    runs = previews.filter(preview_type=PreviewType.THUMBNAIL, status=PreviewStatus.READY, took_ms__isnull=False)
    average = {"all": runs.aggregate(v=Avg("took_ms"))["v"]}
    for row in runs.values("media_kind").annotate(v=Avg("took_ms")).order_by():
        average[row["media_kind"]] = row["v"]
    average = {kind: round(value, 1) if value is not None else None for kind, value in average.items()}
    recent = (previews.filter(preview_type=PreviewType.THUMBNAIL, status=PreviewStatus.FAILED)
              .select_related("blob").order_by("-finished_at", "-pk")[:failures])
    queue = settings.PREVIEW_QUEUE or "celery"
    length = broker_queue_length(queue)
    by_type = _by(previews, "preview_type", PreviewType.values)
    waiting = by_type[PreviewType.THUMBNAIL]  # one task per blob
    return {
        "total": sum(by_status.values()),
        "blobs": previews.order_by().values("blob_id").distinct().count(),
        "byStatus": by_status,
        "byType": by_type,
        "byMediaKind": _by(previews, "media_kind", MediaKind.values),
        "averageTimeMs": average,
        "storedBytes": previews.filter(status=PreviewStatus.READY).aggregate(s=Sum("bytes"))["s"] or 0,
        "recentFailures": [{
            "blobId": row.blob_id, "sha256": row.blob.sha256, "size": row.blob.size,
            "mediaKind": row.media_kind, "error": row.error, "attempts": row.attempts,
            "failedAt": row.finished_at,
        } for row in recent],
        "queue": {
            "name": queue,
            "length": length if length is not None else waiting[PreviewStatus.PENDING],
            "source": "broker" if length is not None else "database",
            "pendingFiles": waiting[PreviewStatus.PENDING],
            "processingFiles": waiting[PreviewStatus.PROCESSING],
        },
    }
