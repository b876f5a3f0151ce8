"""LayoodStorage bulk upload: a folder from a PC or a browser, one request
per file, with progress while it runs and a summary at the end.

A bulk upload is an `UploadBatch`. Each file is an engine session of one part
(`files/uploads/`), so its outcome is recorded where progress and the summary
read it: a complete session is a created file, a failed one says why. A file refused
before it could become a session (a bad path, no room) is recorded as a failed
session too, so the summary lists every file the client sent.
"""

import re
import uuid
from datetime import timedelta

from django.conf import settings
from django.db.models import Count, Max, Q, Sum
from django.utils import timezone

from accounts.quota import Reservation, quota_available
from folders import services as tree
from folders.models import Node, NodeKind
from storage_site.core import storage
from storage_site.core.exceptions import ApplicationError, InvalidName, NotFound, QuotaExceeded

from ..models import UploadBatch, UploadSession, UploadSource, UploadStatus
from .. import uploads as engine
from ..uploads import StoredBytes

# `local_id` keeps the client's relative path, so the summary can name every file.
MAX_PATH_LENGTH = UploadSession._meta.get_field("local_id").max_length
_DRIVE = re.compile(r"^[A-Za-z]:")
_FAILED = (UploadStatus.FAILED, UploadStatus.EXPIRED)
# Errors a failed assembly leaves on the session, as the client should see them.
_STATUS_FOR = {"NAME_CONFLICT": 409, "STORAGE_QUOTA_EXCEEDED": 413, "NOT_FOUND": 404, "FOLDER_NOT_FOUND": 404}


class InvalidPath(ApplicationError):
    status_code = 400
    code = "INVALID_PATH"
    message = "This relative path is not allowed."


# --- the batch --------------------------------------------------------------------------

def bulk_start(*, user, folder_id=None, total_files: int | None = None, total_bytes: int | None = None,
               policy: str = tree.ConflictPolicy.RENAME) -> UploadBatch:
    """Open a bulk upload into the user's folder `folder_id` (home when None). No quota
    is held for the batch: folder uploads often include files the user then drops, so
    each file holds its own. A declared total that cannot fit is refused at once."""
    folder = tree.folder_get_or_home(user=user, folder_id=folder_id)
    if total_bytes is not None:
        available = quota_available(user)
        if total_bytes > available:
            raise QuotaExceeded(f"This upload needs {total_bytes} bytes; {available} are available.")
    return UploadBatch.objects.create(owner=user, source=UploadSource.BULK, folder=folder,
                                      expected_files=total_files, expected_bytes=total_bytes,
                                      options={"onConflict": policy})


def batch_get(*, user, upload_id) -> UploadBatch:
    """The user's own bulk upload; any other id (or another user's) is not found."""
    try:
        batch_uuid = uuid.UUID(str(upload_id))
    except ValueError:  # a malformed id names nothing
        batch_uuid = None
    batches = UploadBatch.objects.select_related("folder").filter(owner=user, source=UploadSource.BULK)
    batch = batches.filter(uuid=batch_uuid).first() if batch_uuid else None
    if batch is None:
        raise NotFound("Bulk upload not found.", code="UPLOAD_NOT_FOUND")
    return batch


def _outcomes(batch: UploadBatch):
    """The batch's files; once it is complete, only those that arrived before."""
    sessions = UploadSession.objects.filter(batch=batch)
    if batch.completed_at:
        sessions = sessions.filter(created_at__lte=batch.completed_at)
    return sessions


def _expires_at(batch: UploadBatch, last_file_at=None):
    """A batch stays open for the session lifetime after its last file, like the engine's sessions."""
    if last_file_at is None:
        last_file_at = UploadSession.objects.filter(batch=batch).aggregate(last=Max("created_at"))["last"]
    return (last_file_at or batch.created_at) + timedelta(days=settings.UPLOAD_SESSION_TTL_DAYS)


def _ensure_open(batch: UploadBatch) -> None:
    completed_at = UploadBatch.objects.filter(pk=batch.pk).values_list("completed_at", flat=True).get()
    if completed_at is not None:
        raise ApplicationError("This bulk upload is complete; start a new one.", code="UPLOAD_COMPLETE",
                               status_code=409)
    if _expires_at(batch) <= timezone.now():
        raise ApplicationError("This bulk upload has expired; start a new one.", code="UPLOAD_EXPIRED",
                               status_code=410)


def bulk_state(batch: UploadBatch) -> dict:
    """Where the batch stands: status and progress."""
    counts = _outcomes(batch).aggregate(
        done=Count("pk", distinct=True, filter=Q(status=UploadStatus.COMPLETE)),
        failed=Count("pk", distinct=True, filter=Q(status__in=_FAILED)),
        stored=Sum("parts__size", filter=Q(status=UploadStatus.COMPLETE)),
        last=Max("created_at"),
    )
    expires_at = _expires_at(batch, counts["last"])
    if batch.completed_at:
        status = UploadStatus.COMPLETE
    else:
        status = UploadStatus.EXPIRED if expires_at <= timezone.now() else UploadStatus.UPLOADING
    done, failed, stored = counts["done"], counts["failed"], counts["stored"] or 0
    if status == UploadStatus.COMPLETE:
        percent = 100.0
    elif batch.expected_bytes:
        percent = stored * 100 / batch.expected_bytes
    elif batch.expected_files:
        percent = (done + failed) * 100 / batch.expected_files
    else:
        percent = None  # nothing declared to measure against
    return {
        "uploadId": str(batch.uuid), "folderId": str(batch.folder.uuid) if batch.folder else None,
        "status": status, "expiresAt": expires_at,
        "progress": {"filesDone": done, "filesFailed": failed, "bytesDone": stored,
                     "totalFiles": batch.expected_files, "totalBytes": batch.expected_bytes,
                     "percent": None if percent is None else round(min(percent, 100.0), 1)},
    }


# --- one file ----------------------------------------------------------------------------

def path_split(relative_path: str) -> list[str]:
    """`Photos/2024/img.jpg` → clean names, the file's last. Windows separators are
    accepted; anything that could leave the batch's folder is INVALID_PATH."""
    path = relative_path.replace("\\", "/")
    if not path.strip():
        raise InvalidPath("The relative path is empty.")
    if len(relative_path) > MAX_PATH_LENGTH:
        raise InvalidPath(f"A relative path has at most {MAX_PATH_LENGTH} characters.")
    if path.startswith("/") or _DRIVE.match(path):
        raise InvalidPath("The path must be relative to the uploaded folder, not absolute.")
    names = []
    for segment in path.split("/"):
        if segment.strip() in ("", ".", ".."):
            raise InvalidPath("Path segments must not be empty, '.' or '..'.")
        try:
            names.append(tree.name_clean(segment))
        except InvalidName as exc:
            raise InvalidPath(f"'{segment}': {exc.message}") from None
    return names


def bulk_file_add(*, batch: UploadBatch, relative_path: str, stored: StoredBytes, content_type: str | None,
                  reservation: Reservation) -> UploadSession:
    """Make a file of bytes streamed to storage while the request was read, at
    `relative_path` under the batch's folder (folders created as needed). `reservation`
    is the quota the request held while reading; the file's bytes are taken from it.
    Any failure deletes the stored object and, unless the batch is closed, is recorded."""
    folder, session = batch.folder, None
    try:
        _ensure_open(batch)
        try:
            names = path_split(relative_path)
            if folder is None:
                raise NotFound("The target folder no longer exists.", code="FOLDER_NOT_FOUND")
            folder = tree.folder_ensure_path(user=batch.owner, parent=folder, parts=names[:-1])
            session = engine.session_start(
                user=batch.owner, folder=folder, name=names[-1], source=UploadSource.BULK, batch=batch,
                total_parts=1, mime_type=content_type, policy=_policy(batch), local_id=relative_path)
        except ApplicationError as exc:
            _failure_record(batch=batch, relative_path=relative_path, error=exc, folder=folder)
            raise
        _ensure_open(batch)  # completed while this file arrived: it stays out of the batch
    except BaseException as exc:
        storage.delete(stored.key)
        if session is not None:
            engine.session_abandon(session, exc)
        raise
    try:
        engine.part_accept(session=session, number=1, reservation=reservation,
                           received=engine.ReceivedPart(size=stored.size, sha256=stored.sha256, stored=stored))
        session = engine.session_complete(session=session)  # one part: its object becomes the file
    except BaseException as exc:  # recorded in the batch's summary, its quota released
        engine.session_abandon(session, exc)
        raise
    if session.status != UploadStatus.COMPLETE:
        raise ApplicationError(session.error_message or "The file could not be stored.",
                               code=session.error_code or "UPLOAD_FAILED",
                               status_code=_STATUS_FOR.get(session.error_code, 400))
    return session


def _policy(batch: UploadBatch) -> str:
    return batch.options.get("onConflict", tree.ConflictPolicy.RENAME)


def bulk_file_refused(*, batch: UploadBatch, relative_path: str, error: ApplicationError) -> None:
    """Record a file the door refused before taking its bytes (no room for it)."""
    _ensure_open(batch)
    _failure_record(batch=batch, relative_path=relative_path, error=error, folder=batch.folder)


def _failure_record(*, batch: UploadBatch, relative_path: str, error: ApplicationError,
                    folder: Node | None) -> None:
    """A file that never became a session still has an outcome: a failed session with the reason."""
    name = relative_path.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1] or relative_path
    UploadSession.objects.create(
        owner_id=batch.owner_id, created_by_id=batch.owner_id, source=UploadSource.BULK, batch=batch,
        local_id=relative_path[:MAX_PATH_LENGTH], folder=folder, name=name[:255],
        conflict_policy=_policy(batch), status=UploadStatus.FAILED,
        error_code=error.code[:64], error_message=error.message[:500], expires_at=timezone.now())


# --- the end ------------------------------------------------------------------------------

def bulk_complete(*, batch: UploadBatch) -> dict:
    """Close the batch and sum it up. Closing again answers the same summary."""
    UploadBatch.objects.filter(pk=batch.pk, completed_at__isnull=True).update(completed_at=timezone.now())
    batch.refresh_from_db()
    # Files a crashed (or racing) request left half-way end now, their quota released.
    for session in UploadSession.objects.filter(batch=batch, status=UploadStatus.UPLOADING):
        engine.session_fail(session, "UPLOAD_INTERRUPTED", "The upload ended before this file was stored.")
    return _summary(batch)


def _summary(batch: UploadBatch) -> dict:
    sessions = _outcomes(batch).select_related("node").order_by("created_at", "pk")
    created = [{"relativePath": s.local_id, "fileId": str(s.node.uuid) if s.node else None, "size": s.stored}
               for s in sessions.filter(status=UploadStatus.COMPLETE).annotate(stored=Sum("parts__size"))]
    failed = [{"relativePath": s.local_id, "code": s.error_code, "message": s.error_message}
              for s in sessions.filter(status__in=_FAILED)]
    state = bulk_state(batch)
    return {
        "uploadId": state["uploadId"], "folderId": state["folderId"], "status": state["status"],
        "created": {"count": len(created), "files": created},
        "failed": {"count": len(failed), "files": failed},
        "bytes": sum(file["size"] or 0 for file in created),
        "folders": _folders_created(batch),
        "durationSeconds": round((batch.completed_at - batch.created_at).total_seconds(), 1),
        "completedAt": batch.completed_at,
    }


def _folders_created(batch: UploadBatch) -> int:
    """Folders the batch's files went into (or under) that did not exist when it began."""
    if batch.folder is None:
        return 0
    paths = _outcomes(batch).exclude(folder=None).values_list("folder__path", flat=True).distinct()
    below = {int(pk) for path in paths if path.startswith(batch.folder.path)
             for pk in path[len(batch.folder.path):].strip("/").split("/") if pk}
    return Node.objects.filter(pk__in=below, kind=NodeKind.FOLDER, created_at__gte=batch.created_at).count()
