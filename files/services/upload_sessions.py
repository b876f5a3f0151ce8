"""The chunked-upload engine: one upload session per file.

Every chunked front door (StreamVault, MegaVault, bulk upload, tus) is a thin layer
over these functions:

- `session_start` checks the target, holds quota for the declared size and opens
  the session (7 days by default, extended by every part).
- `part_accept` records one part. Parts are idempotent by number: the same bytes
  again are accepted, different bytes are a 409 that says what the server holds.
  With S3, a part of at least 5 MiB goes straight into the session's multipart
  upload; smaller parts (and local storage) become objects of their own.
- `session_complete` checks that every part is there and hands assembly to a
  Celery task (inline for small uploads); a retried complete answers the same.
- `session_assemble` (the task) builds the object — S3 `CompleteMultipartUpload`,
  server-side part copies, or a streamed concatenation — verifies the whole-file
  SHA-256, and records an ordinary file through `uploads.file_commit`.
- `sessions_expire` (periodic) deletes parts, aborts multipart uploads and
  releases the quota of sessions nobody finished.
"""

import contextlib
import hashlib
import logging
import re
import threading
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import BinaryIO

from django.conf import settings
from django.db import DatabaseError, IntegrityError, connections, transaction
from django.db.models import F, Sum
from django.utils import timezone

from accounts.quota import Reservation, quota_release, quota_reserve
from folders import services as tree
from folders.models import Node
from storage_site.core import storage
from storage_site.core.exceptions import ApplicationError, NotFound, StorageUnavailable

from .. import signals
from ..models import UploadPart, UploadSession, UploadStatus
from .blobs import blob_key_new
from .uploads import StoredBytes, _check_target, file_commit, mime_for

logger = logging.getLogger(__name__)

MAX_PARTS = 10_000  # S3's limit, kept for every backend so sessions move between them
# A part of an S3 session is spooled to a temporary file up to this size so the engine
# can send it straight into the multipart upload; bigger parts stream to an object of
# their own. A file, not memory: many phones sending parts at once must not each hold
# one in RAM.
PART_SPOOL_MAX = 16 * 1024 * 1024
SHA256_RE = re.compile(r"^(?:sha256:)?([0-9a-fA-F]{64})$")


class UploadError(ApplicationError):
    code = "UPLOAD_ERROR"


def _ttl() -> timedelta:
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


# --- receiving the bytes of one part ---------------------------------------------------

@dataclass
class ReceivedPart:
    """One part's bytes as received: spooled to a temporary file (at its start), or
    already in an object of its own."""

    size: int
    sha256: str
    spooled: BinaryIO | None = None
    stored: StoredBytes | None = None

    def release(self) -> None:
        """Drop the spooled copy (its bytes are stored elsewhere now, or unwanted)."""
        if self.spooled is not None:
            self.spooled.close()
            self.spooled = None

    def discard(self) -> None:
        if self.stored is not None:
            storage.delete(self.stored.key)
            self.stored = None
        self.release()


class PartSpool:
    """Collects a part as it arrives (`write`, then `close` → ReceivedPart, or
    `abort`). Spools up to `spool_max` bytes to a temporary file, then streams to a
    fresh object; spool_max 0 streams from the first byte (local storage, tus)."""

    def __init__(self, *, spool_max: int):
        self.spool_max = spool_max
        self.size = 0
        self._file: BinaryIO | None = None
        self._sha256 = hashlib.sha256()
        self._writer = None if spool_max else storage.open_writer(blob_key_new())

    def write(self, data: bytes) -> None:
        self.size += len(data)
        if self._writer is None and self.size > self.spool_max:
            self._writer = storage.open_writer(blob_key_new())  # hashes everything itself
            if self._file is not None:
                self._file.seek(0)
                while spooled := self._file.read(storage.CHUNK_SIZE):
                    self._writer.write(spooled)
                self._file.close()
                self._file = None
        if self._writer is not None:
            self._writer.write(data)
            return
        if self._file is None:
            self._file = storage.spool_file()
        storage.spool_write(self._file, data)
        self._sha256.update(data)

    def close(self) -> ReceivedPart:
        if self._writer is None:
            if self._file is not None:
                self._file.seek(0)
            return ReceivedPart(size=self.size, sha256=self._sha256.hexdigest(), spooled=self._file)
        size, sha256 = self._writer.close()
        return ReceivedPart(size=size, sha256=sha256, stored=StoredBytes(self._writer.key, size, sha256))

    def abort(self) -> None:
        if self._writer is not None:
            self._writer.abort()
        if self._file is not None:
            self._file.close()
            self._file = None


def part_spool_max() -> int:
    return PART_SPOOL_MAX if storage.is_s3() else 0


def part_receive(stream, *, length: int, spool_max: int | None = None, keep_partial: bool = False) -> ReceivedPart:
    """Read a raw request body of `length` bytes into a part. A body that ends early
    is an error, unless `keep_partial` (tus keeps what arrived)."""
    spool = PartSpool(spool_max=part_spool_max() if spool_max is None else spool_max)
    try:
        remaining = length
        while remaining > 0:
            try:
                data = stream.read(min(storage.CHUNK_SIZE, remaining))
            except OSError:  # the client went away mid-body
                data = b""
            if not data:
                break
            spool.write(data)
            remaining -= len(data)
        if remaining and not keep_partial:
            raise UploadError(f"Expected {length} bytes, received {length - remaining}.", code="INCOMPLETE_UPLOAD")
        return spool.close()
    except BaseException:
        spool.abort()
        raise


# --- sessions ---------------------------------------------------------------------------

def session_start(*, user, folder: Node, name: str, source: str, expected_size: int | None = None,
                  total_parts: int | None = None, chunk_size: int | None = None, checksum: str | None = None,
                  mime_type: str | None = None, policy: str = tree.ConflictPolicy.VERSION, batch=None,
                  local_id: str = "", metadata: dict | None = None, direct: bool = False,
                  created_by=None) -> UploadSession:
    """Open an upload of `name` into `folder`, holding quota for `expected_size` when known."""
    name = _check_target(user=user, folder=folder, name=name, policy=policy)
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
        expires_at=timezone.now() + _ttl(),
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


def _ensure_open(session: UploadSession) -> None:
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
    state["missingParts"] = _missing(session, received)
    state["nextPart"] = state["missingParts"][0] if state["missingParts"] else None
    if session.node_id:
        state["fileId"] = str(session.node.uuid)
    if session.error_code:
        state["error"] = {"code": session.error_code, "message": session.error_message}
    return state


def _missing(session: UploadSession, received: list[int]) -> list[int]:
    if session.total_parts is None:
        top = max(received, default=0)
        return sorted(set(range(1, top + 1)) - set(received))
    return sorted(set(range(1, session.total_parts + 1)) - set(received))


def _part_conflict(session: UploadSession, message: str, *, code: str, status_code: int = 409) -> UploadError:
    state = session_state(session)
    return UploadError(message, code=code, status_code=status_code, details={
        "receivedParts": state["receivedParts"], "missingParts": state["missingParts"],
        "nextPart": state["nextPart"], "bytesReceived": state["bytesReceived"]})


def _expected_part_size(session: UploadSession, number: int) -> int | None:
    if session.expected_size is None or not session.chunk_size:
        return None
    last = session.total_parts is not None and number == session.total_parts
    return session.expected_size - session.chunk_size * (number - 1) if last else session.chunk_size


def _check_part_size(session: UploadSession, number: int, size: int) -> None:
    """Every part but the last has the chunk size; the last is no bigger."""
    last = session.total_parts is not None and number == session.total_parts
    wanted = _expected_part_size(session, number)
    if wanted is not None:
        if size != wanted:
            raise _part_conflict(session, f"Chunk {number} must be {wanted} bytes, not {size}.",
                                 code="CHUNK_SIZE_MISMATCH", status_code=400)
        return
    if size == 0 and not (last and number == 1):
        raise _part_conflict(session, f"Chunk {number} is empty.", code="CHUNK_SIZE_MISMATCH", status_code=400)
    if session.chunk_size is None:
        return
    if (not last and size != session.chunk_size) or (last and size > session.chunk_size):
        raise _part_conflict(session, f"Chunk {number} has {size} bytes; every chunk but the last must have "
                             f"{session.chunk_size} bytes and the last no more.", code="CHUNK_SIZE_MISMATCH",
                             status_code=400)


def part_accept(*, session: UploadSession, number: int, received: ReceivedPart,
                reservation: Reservation | None = None, offset: int | None = None) -> UploadPart:
    """Record part `number` (or the bytes at `offset`, for tus) of the session. The
    received bytes end recorded or discarded, never both, never neither.

    Quota: a session of declared size holds it all from the start; otherwise each
    part's bytes are held before they are stored, taken from `reservation` (held by
    the front door while the body was read) as far as it goes."""
    # Until the part is recorded, bytes already written are ours to delete on the way out.
    placed_key, own_hold = (received.stored.key if received.stored else ""), 0
    try:
        _ensure_open(session)
        limit = session.total_parts or MAX_PARTS
        if not 1 <= number <= limit:
            raise _part_conflict(session, f"Chunk number {number} is out of range 1–{limit}.",
                                 code="CHUNK_OUT_OF_RANGE", status_code=400)
        existing = session.parts.filter(number=number).first()
        if existing is not None:
            return _same_part(session, existing, received)
        if offset is None:
            _check_part_size(session, number, received.size)
        if session.expected_size is None:
            from_request = min(reservation.held, received.size) if reservation is not None else 0
            if received.size > from_request:
                quota_reserve(user=session.owner, size=received.size - from_request)
                own_hold = received.size - from_request
        etag = ""
        if received.stored is not None:
            pass  # already in an object of its own
        elif session.multipart_id and received.size >= storage.MIN_PART_SIZE:
            etag = storage.multipart_put_part(session.storage_key, session.multipart_id, number, received.spooled)
        else:
            placed_key = blob_key_new()
            storage.put_bytes(placed_key, received.spooled or b"")
        received.release()
        try:
            part = _part_record(session=session, number=number, received=received, key=placed_key, etag=etag,
                                offset=offset)
        except _Duplicate as duplicate:  # ours is dropped by `finally`
            return duplicate.part
        placed_key, own_hold = "", 0
        if reservation is not None and session.expected_size is None:
            reservation.committed(min(reservation.held, received.size))  # now the session's
        return part
    finally:
        if placed_key:
            storage.delete(placed_key)
        if own_hold:
            quota_release(user=session.owner, size=own_hold)
        received.release()


class _Duplicate(Exception):
    def __init__(self, part: UploadPart):
        super().__init__()
        self.part = part


def _same_part(session: UploadSession, existing: UploadPart, received: ReceivedPart) -> UploadPart:
    if existing.sha256 and existing.sha256 == received.sha256 and existing.size == received.size:
        return existing  # the same bytes again: nothing to do
    raise _part_conflict(session, f"Chunk {existing.number} is already stored with different content.",
                         code="CHUNK_CONFLICT")


def _part_record(*, session, number, received, key, etag, offset) -> UploadPart:
    with transaction.atomic():
        locked = UploadSession.objects.select_for_update().get(pk=session.pk)
        _ensure_open(locked)
        held = locked.parts.aggregate(total=Sum("size"))["total"] or 0
        if offset is not None and offset != held:
            raise UploadError(f"The upload holds {held} bytes; send from there.", code="OFFSET_MISMATCH",
                              status_code=409, details={"offset": held})
        if locked.expected_size is not None and held + received.size > locked.expected_size:
            raise _part_conflict(locked, f"This chunk would pass the declared size ({locked.expected_size} bytes).",
                                 code="UPLOAD_TOO_LONG", status_code=400)
        if offset is None and locked.chunk_size is None and number != locked.total_parts:
            _learn_chunk_size(locked, number, received.size)
        try:
            with transaction.atomic():
                part = UploadPart.objects.create(session=locked, number=number, offset=offset, size=received.size,
                                                 sha256=received.sha256, storage_key=key, etag=etag)
        except IntegrityError:  # the same part arrived twice at once: the first one stands
            existing = UploadPart.objects.get(session=locked, number=number)
            if existing.sha256 != received.sha256:
                raise _part_conflict(locked, f"Chunk {number} is already stored with different content.",
                                     code="CHUNK_CONFLICT") from None
            raise _Duplicate(existing) from None
        changes = {"expires_at": timezone.now() + _ttl(), "updated_at": timezone.now()}
        if locked.expected_size is None:
            changes["reserved"] = F("reserved") + received.size
        UploadSession.objects.filter(pk=locked.pk).update(**changes)
    return part


def _learn_chunk_size(session: UploadSession, number: int, size: int) -> None:
    """The first chunk that is not the last fixes the chunk size of the session."""
    last = session.parts.filter(number=session.total_parts).first() if session.total_parts else None
    if last is not None and last.size > size:
        raise _part_conflict(session, f"Chunk {number} has {size} bytes, fewer than the last chunk "
                             f"({last.size}); every chunk but the last must have the same size.",
                             code="CHUNK_SIZE_MISMATCH", status_code=400)
    UploadSession.objects.filter(pk=session.pk).update(chunk_size=size)
    session.chunk_size = size


# --- direct-to-S3 parts --------------------------------------------------------------------

def part_urls(session: UploadSession, numbers: list[int] | None = None) -> dict[int, str]:
    """Presigned URLs for the client to PUT parts straight to S3."""
    if not session.direct:
        return {}
    expires_in = max(60, min(int((session.expires_at - timezone.now()).total_seconds()),
                             settings.UPLOAD_PRESIGNED_URL_SECONDS))
    numbers = numbers if numbers is not None else list(range(1, session.total_parts + 1))
    return {number: storage.presigned_part_url(session.storage_key, session.multipart_id, number, expires_in)
            for number in numbers}


def parts_sync(session: UploadSession) -> None:
    """Record the parts the client sent straight to S3 (S3 is the truth for them)."""
    if not session.direct or session.status != UploadStatus.UPLOADING:
        return
    held = {}
    for info in storage.multipart_parts(session.storage_key, session.multipart_id):
        # Of a part listed twice, the copy of the right size (a client repairing a
        # chunk sends it again), then the newest.
        rank = (info["size"] == _expected_part_size(session, info["number"]), info["modified"])
        if info["number"] not in held or rank > held[info["number"]][0]:
            held[info["number"]] = (rank, info)
    held = {number: info for number, (_, info) in held.items()}
    known = {part.number: part for part in session.parts.all()}
    with transaction.atomic():
        # One statement for the new parts (a sync running beside this one may record them first).
        UploadPart.objects.bulk_create([UploadPart(session=session, number=number, size=info["size"],
                                                   etag=info["etag"])
                                        for number, info in held.items() if number not in known],
                                       ignore_conflicts=True)
        for number, info in held.items():
            part = known.get(number)
            if part is not None and (part.etag != info["etag"] or part.size != info["size"]):
                UploadPart.objects.filter(pk=part.pk).update(size=info["size"], etag=info["etag"], sha256="")
        if held:
            UploadSession.objects.filter(pk=session.pk).update(expires_at=timezone.now() + _ttl())


# --- completion ---------------------------------------------------------------------------

def session_complete(*, session: UploadSession, checksum: str | None = None,
                     metadata: dict | None = None) -> UploadSession:
    """Finish an upload: every part must be there. Small uploads are assembled in this
    request; bigger ones by a Celery task, the answer saying `assembling` meanwhile.
    Calling it again answers with the current state (the same file once complete)."""
    from ..tasks import upload_assemble_task

    parts_sync(session)
    checksum = checksum_parse(checksum)
    inline = False
    with transaction.atomic():
        locked = UploadSession.objects.select_for_update().get(pk=session.pk)
        if locked.status == UploadStatus.ASSEMBLING:
            if locked.updated_at < _assembly_stale_before():
                locked.save(update_fields=["updated_at"])  # a worker died: try again
                transaction.on_commit(lambda: upload_assemble_task.delay(locked.pk), robust=True)
            return locked
        if locked.status == UploadStatus.COMPLETE:
            return locked
        _ensure_open(locked)
        parts = list(locked.parts.order_by("number"))
        received = [part.number for part in parts]
        missing = _missing(locked, received)
        if missing or not parts:
            raise _part_conflict(locked, f"Chunks missing: {_ranges(missing) or 'all'}.", code="MISSING_CHUNKS",
                                 status_code=400)
        if locked.direct:
            for part in parts:
                _check_part_size(locked, part.number, part.size)
        total = sum(part.size for part in parts)
        if locked.expected_size is not None and total != locked.expected_size:
            raise _part_conflict(locked, f"Received {total} bytes; the upload declared {locked.expected_size}.",
                                 code="SIZE_MISMATCH", status_code=400)
        if checksum:
            if locked.expected_sha256 and locked.expected_sha256 != checksum:
                raise UploadError("This checksum differs from the one given at the start.",
                                  code="CHECKSUM_MISMATCH")
            locked.expected_sha256 = checksum
        if metadata:
            locked.metadata = {**locked.metadata, **metadata}
        locked.status = UploadStatus.ASSEMBLING
        locked.save()
        # One part already in an object of its own with a known SHA-256 is adopted as it is,
        # without reading a byte: no reason to hand that to a worker, whatever its size.
        inline = total <= settings.UPLOAD_ASSEMBLE_INLINE_MAX or (
            len(parts) == 1 and bool(parts[0].storage_key) and bool(parts[0].sha256))
        if not inline:
            # robust: with the broker down the upload is still accepted (202); the
            # periodic `assemblies_resume` queues it again once the broker is back.
            transaction.on_commit(lambda: upload_assemble_task.delay(locked.pk), robust=True)
    if inline:
        session_assemble(locked.pk)
    return UploadSession.objects.select_related("node", "folder").get(pk=locked.pk)


def _ranges(numbers: list[int]) -> str:
    """[1, 2, 3, 7] → '1-3, 7' (a message, not a list of ten thousand numbers)."""
    spans, start = [], None
    for index, number in enumerate(numbers):
        if start is None:
            start = number
        if index + 1 == len(numbers) or numbers[index + 1] != number + 1:
            spans.append(str(start) if start == number else f"{start}-{number}")
            start = None
    return ", ".join(spans)


class AssemblyFailed(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code, self.message = code, message


@dataclass
class _Assembled:
    stored: StoredBytes
    adopted_key: str = ""  # a part's own object became the file: never delete it as a leftover


def session_assemble(session_id: int) -> None:
    """Build the file of a session in `assembling` (the Celery task; safe to run twice)."""
    session = UploadSession.objects.select_related("owner", "folder", "created_by").filter(pk=session_id).first()
    if session is None or session.status != UploadStatus.ASSEMBLING:
        return
    try:
        with _assembly_lease(session.pk):
            _assemble_and_commit(session)
    except Exception:
        # This run failed (storage, database): the next `complete` or sweep may try again at once.
        with contextlib.suppress(DatabaseError):
            UploadSession.objects.filter(pk=session.pk, status=UploadStatus.ASSEMBLING).update(
                updated_at=_assembly_stale_before() - timedelta(seconds=1))
        raise


def _assembly_stale_before():
    return timezone.now() - timedelta(seconds=settings.UPLOAD_ASSEMBLY_STALE_SECONDS)


@contextlib.contextmanager
def _assembly_lease(session_id: int):
    """While this run assembles, a thread keeps the session's `updated_at` fresh: a live
    assembly, however long it reads, is never queued twice, and one whose worker died
    is queued again once it has been silent UPLOAD_ASSEMBLY_STALE_SECONDS."""
    stop = threading.Event()
    interval = max(1.0, settings.UPLOAD_ASSEMBLY_STALE_SECONDS / 4)

    def beat():
        try:
            while not stop.wait(interval):
                try:
                    UploadSession.objects.filter(pk=session_id, status=UploadStatus.ASSEMBLING).update(
                        updated_at=timezone.now())
                except DatabaseError:
                    logger.warning("could not renew the assembly lease of upload session %s", session_id,
                                   exc_info=True)
        finally:
            connections.close_all()  # this thread's own connections

    thread = threading.Thread(target=beat, name=f"assembly-lease-{session_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def _assemble_and_commit(session: UploadSession) -> None:
    try:
        assembled = _assemble(session)
    except AssemblyFailed as exc:
        session_fail(session, exc.code, exc.message)
        return
    stored = assembled.stored
    problem = None
    if session.expected_sha256 and stored.sha256 != session.expected_sha256:
        problem = ("CHECKSUM_MISMATCH", "The assembled file's SHA-256 differs from the checksum given; "
                                        "nothing was stored.")
    elif session.expected_size is not None and stored.size != session.expected_size:
        problem = ("SIZE_MISMATCH", f"Assembled {stored.size} bytes, expected {session.expected_size}.")
    if problem:
        storage.delete(stored.key)
        session_fail(session, *problem)
        return
    try:
        _commit(session, assembled)
    except ApplicationError as exc:  # the folder went away, a name conflict, the quota
        if stored.key != assembled.adopted_key:
            storage.delete(stored.key)
        session_fail(session, exc.code, exc.message)
    except Exception:
        # The database failed: keep what the retry reuses (an adopted part, the multipart object).
        if stored.key not in (assembled.adopted_key, session.storage_key):
            storage.delete(stored.key)
        raise


def _commit(session: UploadSession, assembled: _Assembled) -> None:
    with transaction.atomic():
        locked = UploadSession.objects.select_for_update().get(pk=session.pk)
        if locked.status != UploadStatus.ASSEMBLING:  # another run finished it
            # Only a copy this run made is ours to drop: an adopted part, or the session's
            # multipart object, may be the file the other run recorded.
            if assembled.stored.key not in (assembled.adopted_key, locked.storage_key):
                transaction.on_commit(lambda: storage.delete(assembled.stored.key))
            return
        folder = Node.objects.filter(pk=locked.folder_id).first()
        if folder is None:
            raise NotFound("The target folder no longer exists.", code="FOLDER_NOT_FOUND")
        _check_target(user=locked.owner, folder=folder, name=locked.name, policy=locked.conflict_policy)
        reservation = Reservation(user=locked.owner, size=locked.reserved)
        node = file_commit(user=locked.owner, folder=folder, name=locked.name, stored=assembled.stored,
                           mime_type=locked.mime_type or mime_for(locked.name, None), reservation=reservation,
                           policy=locked.conflict_policy, metadata=locked.metadata, created_by=locked.created_by,
                           keep_on_failure=True)
        if reservation.held > 0:
            quota_release(user=locked.owner, size=reservation.held)
        locked.reserved = 0
        locked.status = UploadStatus.COMPLETE
        locked.node = node
        locked.completed_at = timezone.now()
        locked.save()
        keys = [key for key in locked.parts.exclude(storage_key="").values_list("storage_key", flat=True)
                if key != assembled.adopted_key]
        transaction.on_commit(lambda: _delete_keys(keys))


def _delete_keys(keys) -> None:
    for key in keys:
        storage.delete(key)


def _assemble(session: UploadSession) -> _Assembled:
    parts = list(session.parts.order_by("number"))
    if len(parts) == 1 and parts[0].storage_key:
        part = parts[0]
        if not storage.exists(part.storage_key):  # never record a file whose bytes are gone
            raise AssemblyFailed("CHUNKS_LOST", "The stored chunk is missing; upload the file again.")
        sha256 = part.sha256 or storage.object_sha256(part.storage_key)[1]
        if session.multipart_id:
            storage.multipart_abort(session.storage_key, session.multipart_id)
        return _Assembled(StoredBytes(part.storage_key, part.size, sha256), adopted_key=part.storage_key)
    if session.multipart_id and all(part.etag or part.size >= storage.MIN_PART_SIZE or index == len(parts) - 1
                                    for index, part in enumerate(parts)):
        return _assemble_multipart(session, parts)
    if any(part.etag for part in parts):
        raise AssemblyFailed("CHUNKS_UNUSABLE", "The chunks do not have one size, so they cannot be joined; "
                                                "upload the file again with equal chunks.")
    if session.multipart_id:
        storage.multipart_abort(session.storage_key, session.multipart_id)
    return _assemble_concatenated(parts)


def _assemble_multipart(session: UploadSession, parts: list[UploadPart]) -> _Assembled:
    """S3: parts already in the multipart upload stay there; objects join it by a
    server-side copy. No byte of the file passes through this process to build it."""
    total = sum(part.size for part in parts)
    try:
        listing = [(part.number, part.etag or storage.multipart_copy_part(
            session.storage_key, session.multipart_id, part.number, part.storage_key)) for part in parts]
        storage.multipart_complete(session.storage_key, session.multipart_id, listing)
    except StorageUnavailable:
        # Completed by an earlier run that died before recording it?
        if not (storage.exists(session.storage_key) and storage.size(session.storage_key) == total):
            raise
    size, sha256 = storage.object_sha256(session.storage_key)  # the one read: verify before it is visible
    return _Assembled(StoredBytes(session.storage_key, size, sha256))


def _assemble_concatenated(parts: list[UploadPart]) -> _Assembled:
    """Local files, or S3 parts too small to join: stream them, in order, into one object."""
    writer = storage.open_writer(blob_key_new())
    try:
        for part in parts:
            for data in storage.read_range(part.storage_key):
                writer.write(data)
        size, sha256 = writer.close()
    except FileNotFoundError as exc:
        writer.abort()
        raise AssemblyFailed("CHUNKS_LOST", "A stored chunk is missing; upload the file again.") from exc
    except BaseException:
        writer.abort()
        raise
    return _Assembled(StoredBytes(writer.key, size, sha256))


# --- the end of a session that will not complete --------------------------------------------

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
            _delete_keys(keys)
            if multipart:
                storage.multipart_abort(*multipart)
        transaction.on_commit(cleanup)
        transaction.on_commit(lambda: signals.upload_failed.send_robust(
            sender=UploadSession, session=locked, code=code, message=message))
    logger.info("upload %s ended (%s): %s", session.uuid, code, message)


def session_cancel(session: UploadSession) -> None:
    if session.status == UploadStatus.COMPLETE:
        raise UploadError("This upload is complete; delete the file instead.", code="UPLOAD_COMPLETE",
                          status_code=409)
    session_fail(session, "CANCELLED", "The upload was cancelled.")


def assemblies_resume(*, limit: int = 1000) -> int:
    """Periodic: queue again the assemblies whose lease ran out (the broker was down
    when they were queued, or the worker died). Assembly is idempotent."""
    from ..tasks import upload_assemble_task

    stale = list(UploadSession.objects.filter(status=UploadStatus.ASSEMBLING, updated_at__lt=_assembly_stale_before())
                 .order_by("updated_at").values_list("pk", flat=True)[:limit])
    UploadSession.objects.filter(pk__in=stale).update(updated_at=timezone.now())
    for session_id in stale:
        upload_assemble_task.delay(session_id)
    return len(stale)


def sessions_expire(*, limit: int = 1000) -> int:
    """Periodic: end sessions whose time ran out."""
    expired = 0
    stale = UploadSession.objects.filter(status=UploadStatus.UPLOADING, expires_at__lte=timezone.now())
    for session in stale.order_by("expires_at")[:limit]:
        session_fail(session, "UPLOAD_EXPIRED", "The upload session expired before it was completed.",
                     status=UploadStatus.EXPIRED)
        expired += 1
    return expired
