"""The parts of an upload session: received (spooled to a temporary file, or streamed
to an object of their own), then recorded.

`part_accept` records one part. Parts are idempotent by number: the same bytes
again are accepted, different bytes are a 409 that says what the server holds.
With S3, a part of at least 5 MiB goes straight into the session's multipart
upload (spooled first, or streamed into it as it arrives: `into_part`); smaller
parts (and local storage) become objects of their own. Parts a client sent straight
to S3 (presigned URLs) are recorded by `parts_sync`.
"""

import hashlib
from dataclasses import dataclass
from typing import BinaryIO

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Sum
from django.utils import timezone

from accounts.quota import Reservation, quota_hold_open
from storage_site.core import storage

from ..models import UploadPart, UploadSession, UploadStatus
from ..services.blobs import blob_key_new
from . import digest, hashing
from .intake import StoredBytes
from .sessions import MAX_PARTS, UploadError, part_conflict, session_ensure_open, session_ttl

# A part of an S3 session is spooled to a temporary file up to this size so the engine
# can send it straight into the multipart upload; bigger parts stream to an object of
# their own. A file, not memory: many phones sending parts at once must not each hold
# one in RAM.
PART_SPOOL_MAX = 16 * 1024 * 1024


# --- receiving the bytes of one part ---------------------------------------------------

@dataclass
class ReceivedPart:
    """One part's bytes as received: spooled to a temporary file (at its start), or
    already in an object of its own, or already the session's multipart part (`etag`)."""

    size: int
    sha256: str
    spooled: BinaryIO | None = None
    stored: StoredBytes | None = None
    etag: str = ""
    # The quota held for the bytes before they streamed into place (handed to the session).
    hold: Reservation | None = None
    # The session's whole-file hash carried on through these bytes, from `running_base` parts.
    running: digest.ResumableSha256 | None = None
    running_base: int | None = None

    def release(self) -> None:
        """Drop the spooled copy (its bytes are stored elsewhere now, or unwanted) and
        whatever of the hold the session did not take."""
        if self.spooled is not None:
            self.spooled.close()
            self.spooled = None
        if self.hold is not None:
            self.hold.release()
            self.hold = None

    def discard(self) -> None:
        if self.stored is not None:
            storage.delete(self.stored.key)
            self.stored = None
        self.release()


class PartSpool:
    """Collects a part as it arrives (`write`, then `close` → ReceivedPart, or
    `abort`). Spools up to `spool_max` bytes to a temporary file, then streams to a
    fresh object; spool_max 0 streams from the first byte (local storage, tus). Given a
    `part` (storage.PartStream), the bytes go straight into it, hashed on the way."""

    def __init__(self, *, spool_max: int, running: digest.ResumableSha256 | None = None,
                 running_base: int | None = None, part: storage.PartStream | None = None):
        self.spool_max = spool_max
        self.size = 0
        self.running, self.running_base = running, running_base
        self._file: BinaryIO | None = None
        self._sha256 = hashlib.sha256()
        self._part = part
        self._writer = None if spool_max or part is not None else storage.open_writer(blob_key_new())

    def write(self, data: bytes) -> None:
        self.size += len(data)
        if self.running is not None:
            self.running.update(data)
        if self._part is not None:
            self._sha256.update(data)
            self._part.write(data)
            return
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
        if self._part is not None:
            return ReceivedPart(size=self.size, sha256=self._sha256.hexdigest(), etag=self._part.close(),
                                running=self.running, running_base=self.running_base)
        if self._writer is None:
            if self._file is not None:
                self._file.seek(0)
            return ReceivedPart(size=self.size, sha256=self._sha256.hexdigest(), spooled=self._file,
                                running=self.running, running_base=self.running_base)
        size, sha256 = self._writer.close()
        return ReceivedPart(size=size, sha256=sha256, stored=StoredBytes(self._writer.key, size, sha256),
                            running=self.running, running_base=self.running_base)

    def abort(self) -> None:
        if self._part is not None:
            self._part.abort()
        if self._writer is not None:
            self._writer.abort()
        if self._file is not None:
            self._file.close()
            self._file = None


def part_spool_max() -> int:
    return PART_SPOOL_MAX if storage.is_s3() else 0


def part_streamable(session: UploadSession, length: int) -> bool:
    """Can a new part of `length` bytes stream straight into the session's multipart
    upload as it arrives (`part_receive(into_part=True)`)?"""
    return bool(session.multipart_id) and not session.direct and \
        storage.MIN_PART_SIZE <= length <= storage.MAX_PART_SIZE


def part_receive(stream, *, length: int, spool_max: int | None = None, keep_partial: bool = False,
                 session: UploadSession | None = None, number: int | None = None,
                 into_part: bool = False) -> ReceivedPart:
    """Read a raw request body of `length` bytes into a part. A body that ends early
    is an error, unless `keep_partial` (tus keeps what arrived). Given the `session`
    and the part's `number`, the session's whole-file hash goes on while the body
    streams, when every part before it is hashed (a tus body).

    `into_part` (a part the session does not have yet, `part_streamable`): the body is
    sent into the session's multipart part `number` while it is read, so receiving
    and storing overlap and nothing is spooled. Its quota is held before the first byte
    (unless the session holds its whole size); a body cut short leaves no part."""
    running = hashing.running_for(session, number) if session is not None and number else None
    hold = part = None
    if into_part:
        if session.expected_size is None:
            hold = quota_hold_open(user=session.owner, size=length, purpose="part")
        try:
            part = storage.PartStream(session.storage_key, session.multipart_id, number, length)
        except BaseException:
            if hold is not None:
                hold.release()
            raise
    spool = PartSpool(spool_max=part_spool_max() if spool_max is None else spool_max, running=running,
                      running_base=number - 1 if running is not None else None, part=part)
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
        received = spool.close()
    except BaseException:
        spool.abort()
        if hold is not None:
            hold.release()
        raise
    received.hold = hold
    return received


def part_expected_size(session: UploadSession, number: int) -> int | None:
    if session.expected_size is None or not session.chunk_size:
        return None
    last = session.total_parts is not None and number == session.total_parts
    return session.expected_size - session.chunk_size * (number - 1) if last else session.chunk_size


def part_size_check(session: UploadSession, number: int, size: int) -> None:
    """Every part but the last has the chunk size; the last is no bigger."""
    last = session.total_parts is not None and number == session.total_parts
    wanted = part_expected_size(session, number)
    if wanted is not None:
        if size != wanted:
            raise part_conflict(session, f"Chunk {number} must be {wanted} bytes, not {size}.",
                                 code="CHUNK_SIZE_MISMATCH", status_code=400)
        return
    if size == 0 and not (last and number == 1):
        raise part_conflict(session, f"Chunk {number} is empty.", code="CHUNK_SIZE_MISMATCH", status_code=400)
    if session.chunk_size is None:
        return
    if (not last and size != session.chunk_size) or (last and size > session.chunk_size):
        raise part_conflict(session, f"Chunk {number} has {size} bytes; every chunk but the last must have "
                             f"{session.chunk_size} bytes and the last no more.", code="CHUNK_SIZE_MISMATCH",
                             status_code=400)


def part_accept(*, session: UploadSession, number: int, received: ReceivedPart,
                reservation: Reservation | None = None, offset: int | None = None) -> UploadPart:
    """Record part `number` (or the bytes at `offset`, for tus) of the session. The
    received bytes end recorded or discarded, never both, never neither.

    Quota: a session of declared size holds it all from the start; otherwise each
    part's bytes are held before they are stored, taken from `reservation` (held by
    the front door while the body was read, or by `part_receive` before it streamed
    the part into place) as far as it goes."""
    reservation = reservation if reservation is not None else received.hold
    # Until the part is recorded, bytes already written are ours to delete on the way out.
    placed_key, own_hold = (received.stored.key if received.stored else ""), None
    try:
        session_ensure_open(session)
        limit = session.total_parts or MAX_PARTS
        if not 1 <= number <= limit:
            raise part_conflict(session, f"Chunk number {number} is out of range 1–{limit}.",
                                 code="CHUNK_OUT_OF_RANGE", status_code=400)
        existing = session.parts.filter(number=number).first()
        if existing is not None:
            return _same_part(session, existing, received)
        if offset is None:
            part_size_check(session, number, received.size)
        holds = []  # what pays for the part's bytes, handed over to the session as it is recorded
        if session.expected_size is None:
            from_request = min(reservation.held, received.size) if reservation is not None else 0
            if from_request:
                holds.append((reservation, from_request))
            if received.size > from_request:
                own_hold = quota_hold_open(user=session.owner, size=received.size - from_request, purpose="part")
                holds.append((own_hold, own_hold.held))
        etag = received.etag
        if etag or received.stored is not None:
            pass  # already the session's part, or in an object of its own
        elif session.multipart_id and received.size >= storage.MIN_PART_SIZE:
            etag = storage.multipart_put_part(session.storage_key, session.multipart_id, number, received.spooled,
                                              sha256=received.sha256)
        else:
            placed_key = blob_key_new()
            storage.put_bytes(placed_key, received.spooled or b"")
        hashing.part_keep(session, number, received)  # out of order: kept until the gap before it fills
        try:  # the spooled copy stays until the part is recorded: it may be hashed into the file's SHA-256
            part = _part_record(session=session, number=number, received=received, key=placed_key, etag=etag,
                                offset=offset, holds=holds)
        except _Duplicate as duplicate:  # ours is dropped by `finally`
            return duplicate.part
        placed_key = ""
        return part
    finally:
        if placed_key:
            storage.delete(placed_key)
        if own_hold is not None:
            own_hold.release()
        received.release()


class _Duplicate(Exception):
    def __init__(self, part: UploadPart):
        super().__init__()
        self.part = part


def _same_part(session: UploadSession, existing: UploadPart, received: ReceivedPart) -> UploadPart:
    if existing.sha256 and existing.sha256 == received.sha256 and existing.size == received.size:
        return existing  # the same bytes again: nothing to do
    raise part_conflict(session, f"Chunk {existing.number} is already stored with different content.",
                         code="CHUNK_CONFLICT")


def _part_record(*, session, number, received, key, etag, offset, holds=()) -> UploadPart:
    with transaction.atomic():
        locked = UploadSession.objects.select_for_update().get(pk=session.pk)
        session_ensure_open(locked)
        # What the session holds matters to a tus offset and a declared size only (a query less per part).
        held = 0
        if offset is not None or locked.expected_size is not None:
            held = locked.parts.aggregate(total=Sum("size"))["total"] or 0
        if offset is not None and offset != held:
            raise UploadError(f"The upload holds {held} bytes; send from there.", code="OFFSET_MISMATCH",
                              status_code=409, details={"offset": held})
        if locked.expected_size is not None and held + received.size > locked.expected_size:
            raise part_conflict(locked, f"This chunk would pass the declared size ({locked.expected_size} bytes).",
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
                raise part_conflict(locked, f"Chunk {number} is already stored with different content.",
                                     code="CHUNK_CONFLICT") from None
            raise _Duplicate(existing) from None
        changes = {"expires_at": timezone.now() + session_ttl(), "updated_at": timezone.now()}
        changes.update(hashing.hash_extend(locked, number, received))
        if locked.expected_size is None:
            changes["reserved"] = F("reserved") + received.size
            for hold, size in holds:  # the bytes were the request's; now they are the session's
                hold.hand_over(size)
        UploadSession.objects.filter(pk=locked.pk).update(**changes)
    return part


def _learn_chunk_size(session: UploadSession, number: int, size: int) -> None:
    """The first chunk that is not the last fixes the chunk size of the session."""
    last = session.parts.filter(number=session.total_parts).first() if session.total_parts else None
    if last is not None and last.size > size:
        raise part_conflict(session, f"Chunk {number} has {size} bytes, fewer than the last chunk "
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
        rank = (info["size"] == part_expected_size(session, info["number"]), info["modified"])
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
            UploadSession.objects.filter(pk=session.pk).update(expires_at=timezone.now() + session_ttl())
