"""MegaVault background upload: a batch of files, each an upload session
of the engine (`files.uploads`). The rules this door adds to the engine:

- a batch starts all or nothing: every file's quota is held, or none is;
- chunks of a direct session go to S3 through presigned URLs, never through us;
- a chunk's index and size are checked before its body is read, so a phone on a
  metered link does not send megabytes only to hear they were wrong;
- the progress a client reports is answered with what the server really holds.
"""

import uuid
from dataclasses import dataclass

from django.conf import settings
from django.db.models import Sum
from django.utils import timezone

from accounts.quota import quota_available
from folders import services as tree
from storage_site.core.exceptions import ApplicationError, NotFound, QuotaExceeded

from ..models import UploadBatch, UploadSession, UploadSource, UploadStatus
from .. import uploads as engine
from ..uploads import UploadError

KiB, MiB = 1024, 1024 * 1024
CHUNK_SIZE_DEFAULT = 5 * MiB
CHUNK_SIZE_MIN = 256 * KiB
CHUNK_SIZE_MAX = 512 * MiB
MAX_FILES = 500
# Every chunk is listed in the init answer (with a presigned URL for direct sessions):
# this keeps that answer, and the signing work, bounded.
MAX_CHUNKS = 20_000
PRIORITIES = ("low", "normal", "high")


@dataclass
class FileRequest:
    """One file of an init request, as the client described it."""

    local_id: str
    name: str
    size: int
    mime_type: str = ""
    folder: str = ""
    checksum: str = ""
    priority: str = "normal"


def chunk_size_max() -> int:
    return min(CHUNK_SIZE_MAX, settings.UPLOAD_CHUNK_MAX_SIZE)


def _chunk_count(size: int, chunk_size: int) -> int:
    return max(1, -(-size // chunk_size))  # an empty file is one empty chunk


def _prepare(files: list[FileRequest], chunk_size: int) -> list[tuple[str, ...]]:
    """Check the whole request before anything is created; each file's folder path."""
    if not 1 <= len(files) <= MAX_FILES:
        raise UploadError(f"Send 1 to {MAX_FILES} files per upload session.", code="VALIDATION_ERROR")
    seen, paths = set(), []
    for file in files:
        if file.local_id in seen:
            raise UploadError(f"localId '{file.local_id}' appears twice.", code="DUPLICATE_LOCAL_ID",
                              details={"localId": file.local_id})
        seen.add(file.local_id)
        try:
            tree.name_clean(file.name)
            paths.append(tuple(tree.name_clean(part) for part in file.folder.split("/") if part.strip()))
            engine.checksum_parse(file.checksum)
        except ApplicationError as exc:
            exc.details = {**(exc.details or {}), "localId": file.local_id}
            raise
        if file.size > settings.UPLOAD_SESSION_MAX_SIZE:
            raise UploadError(f"Files are limited to {settings.UPLOAD_SESSION_MAX_SIZE} bytes.",
                              code="FILE_TOO_LARGE", status_code=413, details={"localId": file.local_id})
        if _chunk_count(file.size, chunk_size) > engine.MAX_PARTS:
            raise UploadError(f"A file has at most {engine.MAX_PARTS} chunks; make the chunks bigger.",
                              code="TOO_MANY_CHUNKS", details={"localId": file.local_id})
    if sum(_chunk_count(file.size, chunk_size) for file in files) > MAX_CHUNKS:
        raise UploadError(f"An upload session lists at most {MAX_CHUNKS} chunks; send fewer files per session "
                          "or bigger chunks.", code="TOO_MANY_CHUNKS")
    return paths


def batch_start(*, user, files: list[FileRequest], chunk_size: int = CHUNK_SIZE_DEFAULT,
                options: dict | None = None) -> tuple[UploadBatch, list[UploadSession]]:
    """Open one upload session per file, all or nothing. Quota for every file is held
    at once; if one file cannot start (quota taken by a parallel upload, a name
    clash), the sessions already opened are ended and the batch removed."""
    paths = _prepare(files, chunk_size)
    total = sum(file.size for file in files)
    available = quota_available(user)
    if total > available:  # the common refusal, before any row or multipart upload exists
        raise QuotaExceeded(f"These files need {total} bytes; {available} are available.",
                            details={"requested": total, "available": available})
    batch = UploadBatch.objects.create(
        owner=user, source=UploadSource.MEGAVAULT, expected_files=len(files), expected_bytes=total,
        options={**(options or {}), "chunkSize": chunk_size,
                 "priority": {file.local_id: file.priority for file in files}})
    sessions, folders = [], {}
    home = tree.home_get(user=user)
    try:
        for file, path in zip(files, paths):
            try:
                if path not in folders:
                    folders[path] = tree.folder_ensure_path(user=user, parent=home, parts=list(path))
                sessions.append(engine.session_start(
                    user=user, folder=folders[path], name=file.name, source=UploadSource.MEGAVAULT,
                    expected_size=file.size, chunk_size=chunk_size, checksum=file.checksum or None,
                    mime_type=file.mime_type or None, policy=tree.ConflictPolicy.RENAME, batch=batch,
                    local_id=file.local_id,
                    # A one-chunk file has no multipart upload to sign URLs for: it comes through us.
                    direct=file.size > chunk_size))
            except ApplicationError as exc:
                exc.details = {**(exc.details or {}), "localId": file.local_id}
                raise
    except BaseException as exc:
        for session in sessions:  # each on its own: one failing must not keep the others' quota
            engine.session_abandon(session, exc)
        batch.delete()
        raise
    return batch, sessions


def batch_get(*, user, batch_id) -> UploadBatch:
    """The user's own MegaVault upload session (batch); anything else is not found."""
    try:
        batch = UploadBatch.objects.filter(owner=user, source=UploadSource.MEGAVAULT,
                                           uuid=uuid.UUID(str(batch_id))).first()
    except ValueError:  # a malformed id names nothing
        batch = None
    if batch is None:
        raise NotFound("Upload session not found.", code="UPLOAD_SESSION_NOT_FOUND")
    return batch


def batch_sessions(batch: UploadBatch) -> list[UploadSession]:
    """The batch's files, each with `bytes_held`, synced with S3 for direct ones."""
    sessions = batch.sessions.order_by("pk")
    for session in sessions.filter(direct=True, status=UploadStatus.UPLOADING):
        engine.parts_sync(session)
    return list(sessions.select_related("node").annotate(bytes_held=Sum("parts__size")))


# Uploads whose chunks come through this door: MegaVault's own, and the big files of a
# phone's backup session and of a delta sync, which hand out this door's chunk URLs.
CHUNK_DOOR_SOURCES = (UploadSource.MEGAVAULT, UploadSource.BACKUP, UploadSource.SYNC)


def upload_get(*, user, upload_id) -> UploadSession:
    session = engine.session_get(user=user, upload_id=upload_id)
    if session.source not in CHUNK_DOOR_SOURCES:
        raise NotFound("Upload session not found.", code="UPLOAD_NOT_FOUND")
    return session


def upload_sync(session: UploadSession) -> UploadSession:
    """What the server holds: for a direct session S3 is the truth, so read it first."""
    engine.parts_sync(session)
    return session


def upload_status(session: UploadSession) -> str:
    """The session's status, `expired` as soon as its time is up (the sweep comes later)."""
    if session.status == UploadStatus.UPLOADING and session.expires_at <= timezone.now():
        return UploadStatus.EXPIRED
    return session.status


def batch_status(sessions: list[UploadSession]) -> str:
    """`complete` when every file is; `uploading` while any is still moving; else `failed`."""
    statuses = {upload_status(session) for session in sessions}
    if statuses == {UploadStatus.COMPLETE}:
        return UploadStatus.COMPLETE
    if statuses & {UploadStatus.UPLOADING, UploadStatus.ASSEMBLING}:
        return UploadStatus.UPLOADING
    return UploadStatus.FAILED


def chunk_length(session: UploadSession, index: int) -> int:
    """The size chunk `index` (from 0) must have: the chunk size, the last one the rest."""
    if index == session.total_parts - 1:
        return session.expected_size - session.chunk_size * index
    return session.chunk_size


def chunk_expect(*, session: UploadSession, index: int, size: int | None = None) -> None:
    """Refuse a chunk we would refuse anyway, before its body is read."""
    if session.direct:
        raise UploadError("This upload goes straight to storage: PUT each chunk to its presigned `uploadUrl` "
                          "(from init or progress).", code="DIRECT_UPLOAD", status_code=409)
    if not 0 <= index < session.total_parts:
        raise UploadError(f"Chunk index {index} is out of range 0–{session.total_parts - 1}.",
                          code="CHUNK_OUT_OF_RANGE", details={"totalChunks": session.total_parts})
    if size is not None and size != chunk_length(session, index):
        raise UploadError(f"Chunk {index} must be {chunk_length(session, index)} bytes, not {size}.",
                          code="CHUNK_SIZE_MISMATCH", details={"expectedSize": chunk_length(session, index)})


def chunk_receive(*, session: UploadSession, index: int, stream, length: int) -> None:
    """Read chunk `index` (from 0) of `length` bytes from a raw request body and record it."""
    chunk_expect(session=session, index=index, size=length)
    received = engine.part_receive(stream, length=length)
    chunk_accept(session=session, index=index, received=received)


def chunk_accept(*, session: UploadSession, index: int, received: engine.ReceivedPart) -> None:
    """Record chunk `index` (from 0) of a session, whose bytes the door has read."""
    try:
        chunk_expect(session=session, index=index, size=received.size)
    except BaseException:
        received.discard()
        raise
    engine.part_accept(session=session, number=index + 1, received=received)


def upload_complete(*, session: UploadSession, checksum: str | None = None,
                    metadata: dict | None = None) -> UploadSession:
    """Finish one file. A failed assembly (the checksum, above all) is an error the client sees."""
    session = engine.session_complete(session=session, checksum=checksum, metadata=metadata)
    if session.status == UploadStatus.FAILED:
        raise engine.session_error(session)
    return session
