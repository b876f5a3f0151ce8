"""Upload sessions: one per file of a chunked upload (every chunked door: StreamVault,
MegaVault, bulk upload, tus, backup, sync).

- `session_start` checks the target, holds quota for the declared size and opens
  the session (7 days by default, extended by every part): its quota lives as long
  as the session.
- `session_fail` ends a session without a file (parts deleted, multipart upload
  aborted, quota released); `session_abandon` does so for a session whose opening
  request failed; `sessions_expire` (periodic) for the sessions nobody finished.
"""

import logging
import re
import uuid
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.quota import quota_reserve, quota_release
from folders import services as tree
from folders.models import Node
from storage_site.core import storage
from storage_site.core.exceptions import ApplicationError, NotFound

from .. import signals
from ..models import UploadSession, UploadStatus
from ..services.blobs import blob_key_new
from .intake import mime_for, target_check

logger = logging.getLogger(__name__)

MAX_PARTS = 10_000  # S3's limit, kept for every backend so sessions move between them
SHA256_RE = re.compile(r"^(?:sha256:)?([0-9a-fA-F]{64})$")


class UploadError(ApplicationError):
    code = "UPLOAD_ERROR"


def session_ttl() -> timedelta:
    return timedelta(days=settings.UPLOAD_SESSION_TTL_DAYS)


def checksum_parse(value: str | None) -> str:
    """A client's whole-file checksum, `sha256:<hex>` or bare hex → lower-case hex ('' if none)."""
    if not value:
        return ""
    match = SHA256_RE.match(value.strip())
    if not match:
        raise UploadError("`checksum` must be a SHA-256 in hex, optionally prefixed `sha256:`.",
                          code="INVALID_CHECKSUM")
    return match.group(1).lower()


def session_start(*, user, folder: Node, name: str, source: str, expected_size: int | None = None,
                  total_parts: int | None = None, chunk_size: int | None = None, checksum: str | None = None,
                  mime_type: str | None = None, policy: str = tree.ConflictPolicy.VERSION, batch=None,
                  local_id: str = "", metadata: dict | None = None, direct: bool = False,
                  created_by=None) -> UploadSession:
    """Open an upload of `name` into `folder`, holding quota for `expected_size` when known."""
    name = target_check(user=user, folder=folder, name=name, policy=policy)
    if expected_size is not None:
        if expected_size < 0:
            raise UploadError("The size must not be negative.", code="VALIDATION_ERROR")
        if expected_size > settings.UPLOAD_SESSION_MAX_SIZE:
            raise UploadError(f"Files are limited to {settings.UPLOAD_SESSION_MAX_SIZE} bytes.",
                              code="FILE_TOO_LARGE", status_code=413)
    if chunk_size is not None and chunk_size < 1:
        raise UploadError("The chunk size must be positive.", code="VALIDATION_ERROR")
    if expected_size is not None and chunk_size:
        derived = max(1, -(-expected_size // chunk_size))
        if total_parts is not None and total_parts != derived:
            raise UploadError(f"{expected_size} bytes in chunks of {chunk_size} make {derived} chunks, "
                              f"not {total_parts}.", code="VALIDATION_ERROR")
        total_parts = derived
    if total_parts is not None and not 1 <= total_parts <= MAX_PARTS:
        raise UploadError(f"An upload has 1 to {MAX_PARTS} chunks; make the chunks bigger.",
                          code="TOO_MANY_CHUNKS")
    direct = direct and storage.is_s3() and bool(chunk_size) and chunk_size >= storage.MIN_PART_SIZE \
        and expected_size is not None
    session = UploadSession(
        owner=user, created_by=created_by or user, source=source, batch=batch, local_id=local_id[:255],
        folder=folder, name=name, conflict_policy=policy, mime_type=mime_for(name, mime_type),
        metadata=metadata or {}, expected_size=expected_size, expected_sha256=checksum_parse(checksum),
        total_parts=total_parts, chunk_size=chunk_size, storage_key=blob_key_new(), direct=direct,
        expires_at=timezone.now() + session_ttl(),
    )
    if storage.is_s3() and total_parts != 1 and (expected_size is None or expected_size >= storage.MIN_PART_SIZE) \
            and (chunk_size is None or chunk_size >= storage.MIN_PART_SIZE):
        session.multipart_id = storage.multipart_create(session.storage_key)
    session.direct = direct and bool(session.multipart_id)  # a one-part file has no multipart upload
    try:
        with transaction.atomic():
            if expected_size:
                quota_reserve(user=user, size=expected_size)
                session.reserved = expected_size
            session.save()
    except BaseException:
        if session.multipart_id:
            storage.multipart_abort(session.storage_key, session.multipart_id)
        raise
    return session


def session_size_declare(session: UploadSession, size: int) -> UploadSession:
    """A total the client names after the start (Nextcloud sends it with a chunk): from
    now on the session holds quota for all of it, as `session_start` does for a size
    known at once. Naming another total than before, or less than was received, is 400."""
    if size > settings.UPLOAD_SESSION_MAX_SIZE:
        raise UploadError(f"Files are limited to {settings.UPLOAD_SESSION_MAX_SIZE} bytes.",
                          code="FILE_TOO_LARGE", status_code=413)
    with transaction.atomic():
        locked = UploadSession.objects.select_for_update().get(pk=session.pk)
        session_ensure_open(locked)
        if locked.expected_size is None:
            received = sum(locked.parts.values_list("size", flat=True))
            if size < received:
                raise UploadError(f"{received} bytes were received already; the total cannot be {size}.",
                                  code="SIZE_MISMATCH")
            if size > locked.reserved:  # the parts received so far hold their own bytes
                quota_reserve(user=locked.owner, size=size - locked.reserved)
                locked.reserved = size
            locked.expected_size = size
            locked.save(update_fields=["expected_size", "reserved", "updated_at"])
        elif locked.expected_size != size:
            raise UploadError(f"The upload declared {locked.expected_size} bytes, not {size}.", code="SIZE_MISMATCH")
    return locked


def session_target_set(session: UploadSession, *, folder: Node, name: str, policy: str) -> UploadSession:
    """Say (again) where the file of an open session goes, for clients that name it only
    when they finish (Nextcloud's MOVE); the target is checked as at `session_start`."""
    name = target_check(user=session.owner, folder=folder, name=name, policy=policy)
    UploadSession.objects.filter(pk=session.pk, status=UploadStatus.UPLOADING).update(
        folder=folder, name=name, conflict_policy=policy, mime_type=mime_for(name, None))
    session.refresh_from_db()
    return session


def session_get(*, user, upload_id, source: str | None = None) -> UploadSession:
    """The user's own upload session; any other id (or another user's) is not found."""
    sessions = UploadSession.objects.filter(owner=user)
    if source:
        sessions = sessions.filter(source=source)
    try:
        session = sessions.select_related("folder", "node").filter(uuid=uuid.UUID(str(upload_id))).first()
    except (ValueError, TypeError):  # a malformed id names nothing
        session = None
    if session is None:
        raise NotFound("Upload session not found.", code="UPLOAD_NOT_FOUND")
    return session


def session_ensure_open(session: UploadSession) -> None:
    if session.status == UploadStatus.UPLOADING and session.expires_at <= timezone.now():
        raise UploadError("This upload session has expired; start a new one.", code="UPLOAD_EXPIRED",
                          status_code=410)
    if session.status == UploadStatus.EXPIRED:
        raise UploadError("This upload session has expired; start a new one.", code="UPLOAD_EXPIRED",
                          status_code=410)
    if session.status == UploadStatus.FAILED:
        raise UploadError(f"This upload failed: {session.error_message}", code=session.error_code or "UPLOAD_FAILED",
                          status_code=409)
    if session.status != UploadStatus.UPLOADING:
        raise UploadError("This upload is already complete; its parts cannot change.", code="UPLOAD_COMPLETE",
                          status_code=409)


def session_state(session: UploadSession) -> dict:
    """What the server holds: the answer a client resumes from."""
    parts = list(session.parts.values_list("number", "size"))
    received = sorted(number for number, _ in parts)
    state = {
        "uploadId": str(session.uuid), "status": session.status, "fileName": session.name,
        "receivedParts": received, "bytesReceived": sum(size for _, size in parts),
        "expectedSize": session.expected_size, "totalParts": session.total_parts,
        "chunkSize": session.chunk_size, "expiresAt": session.expires_at,
    }
    state["missingParts"] = parts_missing(session, received)
    state["nextPart"] = state["missingParts"][0] if state["missingParts"] else None
    if session.node_id:
        state["fileId"] = str(session.node.uuid)
    if session.error_code:
        state["error"] = {"code": session.error_code, "message": session.error_message}
    return state


def parts_missing(session: UploadSession, received: list[int]) -> list[int]:
    if session.total_parts is None:
        top = max(received, default=0)
        return sorted(set(range(1, top + 1)) - set(received))
    return sorted(set(range(1, session.total_parts + 1)) - set(received))


def part_conflict(session: UploadSession, message: str, *, code: str, status_code: int = 409) -> UploadError:
    state = session_state(session)
    return UploadError(message, code=code, status_code=status_code, details={
        "receivedParts": state["receivedParts"], "missingParts": state["missingParts"],
        "nextPart": state["nextPart"], "bytesReceived": state["bytesReceived"]})



def keys_delete(keys) -> None:
    for key in keys:
        storage.delete(key)



def session_fail(session: UploadSession, code: str, message: str, *, status: str = UploadStatus.FAILED) -> None:
    """End a session without a file: parts deleted, multipart upload aborted, quota released."""
    with transaction.atomic():
        locked = UploadSession.objects.select_for_update().get(pk=session.pk)
        if locked.status in (UploadStatus.COMPLETE, UploadStatus.FAILED, UploadStatus.EXPIRED):
            return
        if locked.reserved:
            quota_release(user=locked.owner, size=locked.reserved)
        keys = list(locked.parts.exclude(storage_key="").values_list("storage_key", flat=True))
        locked.parts.all().delete()
        multipart = (locked.storage_key, locked.multipart_id) if locked.multipart_id else None
        locked.reserved = 0
        locked.status = status
        locked.error_code, locked.error_message = code, message[:500]
        locked.save()

        def cleanup():
            keys_delete(keys)
            if multipart:
                storage.multipart_abort(*multipart)
        transaction.on_commit(cleanup)
        transaction.on_commit(lambda: signals.upload_failed.send_robust(
            sender=UploadSession, session=locked, code=code, message=message))
    logger.info("upload %s ended (%s): %s", session.uuid, code, message)


def session_error(session: UploadSession) -> UploadError:
    """The error a client sees for a session that ended without a file: a checksum that
    did not match is the client's mistake (400); anything else conflicts with the
    upload's state (409)."""
    return UploadError(session.error_message, code=session.error_code or "UPLOAD_FAILED",
                       status_code=400 if session.error_code == "CHECKSUM_MISMATCH" else 409)


def session_abandon(session: UploadSession, error: BaseException) -> None:
    """The request that opened `session` failed before the client learned its id: end it
    now, its quota released, rather than when it expires (best effort: the database may
    be what failed; then the expiry sweep ends it)."""
    known = isinstance(error, ApplicationError)
    try:
        session_fail(session, error.code if known else "UPLOAD_FAILED",
                     error.message if known else "The server could not store this file.")
    except Exception:
        logger.warning("could not end abandoned upload session %s", session.uuid, exc_info=True)


def session_cancel(session: UploadSession) -> None:
    if session.status == UploadStatus.COMPLETE:
        raise UploadError("This upload is complete; delete the file instead.", code="UPLOAD_COMPLETE",
                          status_code=409)
    session_fail(session, "CANCELLED", "The upload was cancelled.")



def sessions_expire(*, limit: int = 1000) -> int:
    """Periodic: end sessions whose time ran out."""
    expired = 0
    stale = UploadSession.objects.filter(status=UploadStatus.UPLOADING, expires_at__lte=timezone.now())
    for session in stale.order_by("expires_at")[:limit]:
        session_fail(session, "UPLOAD_EXPIRED", "The upload session expired before it was completed.",
                     status=UploadStatus.EXPIRED)
        expired += 1
    return expired
