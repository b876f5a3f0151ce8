"""Completion: `session_complete` checks that every part is there and hands assembly
to a Celery task (inline for small uploads); a retried complete answers the same.
`session_assemble` (the task) builds the object (S3 `CompleteMultipartUpload`,
server-side part copies, or a streamed concatenation), verifies the whole-file
SHA-256 and records an ordinary file through `commit.file_commit`.
`assemblies_resume` (periodic) queues again the assemblies whose worker died.
"""

import contextlib
import logging
import threading
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import DatabaseError, connections, transaction
from django.utils import timezone

from accounts.quota import Reservation
from folders.models import Node
from storage_site.core import storage
from storage_site.core.exceptions import ApplicationError, NotFound, StorageUnavailable

from ..models import UploadPart, UploadSession, UploadStatus
from ..services.blobs import blob_key_new
from .commit import file_commit
from .intake import StoredBytes, mime_for, target_check
from .hashing import file_hash_of, hashed_prefix, kept_drop
from .parts import part_size_check, parts_sync
from .sessions import UploadError, checksum_parse, keys_delete, part_conflict, parts_missing, session_ensure_open, \
    session_fail

logger = logging.getLogger(__name__)

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
        session_ensure_open(locked)
        parts = list(locked.parts.order_by("number"))
        received = [part.number for part in parts]
        missing = parts_missing(locked, received)
        if missing or not parts:
            raise part_conflict(locked, f"Chunks missing: {ranges(missing) or 'all'}.", code="MISSING_CHUNKS",
                                 status_code=400)
        if locked.direct:
            for part in parts:
                part_size_check(locked, part.number, part.size)
        total = sum(part.size for part in parts)
        if locked.expected_size is not None and total != locked.expected_size:
            raise part_conflict(locked, f"Received {total} bytes; the upload declared {locked.expected_size}.",
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
        # Nothing to read, whatever the size: one part already in an object of its own with a
        # known SHA-256 is adopted as it is; parts all in the multipart upload and all hashed
        # as they arrived are joined by S3 alone. No reason to hand either to a worker.
        adopted = len(parts) == 1 and bool(parts[0].storage_key) and bool(parts[0].sha256)
        joined_hashed = bool(locked.multipart_id) and all(part.etag for part in parts) \
            and bool(file_hash_of(locked, parts))
        # A direct upload's parts are joined by S3 alone; its one read, the verification, is
        # cheaper here than a worker's hand-off and the client's polling, up to a bound.
        direct_verify = locked.direct and total <= settings.UPLOAD_VERIFY_INLINE_MAX
        inline = total <= settings.UPLOAD_ASSEMBLE_INLINE_MAX or adopted or joined_hashed or direct_verify
        if not inline:
            # robust: with the broker down the upload is still accepted (202); the
            # periodic `assemblies_resume` queues it again once the broker is back.
            transaction.on_commit(lambda: upload_assemble_task.delay(locked.pk), robust=True)
    if inline:
        session_assemble(locked.pk)
    return UploadSession.objects.select_related("node", "folder").get(pk=locked.pk)


def ranges(numbers: list[int]) -> str:
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
        target_check(user=locked.owner, folder=folder, name=locked.name, policy=locked.conflict_policy)
        reservation = Reservation(user=locked.owner, size=locked.reserved)
        node = file_commit(user=locked.owner, folder=folder, name=locked.name, stored=assembled.stored,
                           mime_type=locked.mime_type or mime_for(locked.name, None), reservation=reservation,
                           policy=locked.conflict_policy, metadata=locked.metadata, created_by=locked.created_by,
                           keep_on_failure=True, upload_id=locked.pk, source=locked.source)
        reservation.release()
        locked.reserved = 0
        locked.status = UploadStatus.COMPLETE
        locked.node = node
        locked.completed_at = timezone.now()
        locked.save()
        keys = [key for key in locked.parts.exclude(storage_key="").values_list("storage_key", flat=True)
                if key != assembled.adopted_key]
        transaction.on_commit(lambda: keys_delete(keys))
        transaction.on_commit(lambda: kept_drop(locked))



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
    sha256 = file_hash_of(session, parts)
    if sha256 and storage.size(session.storage_key) == total:
        # Every part was hashed as it arrived, in order, and S3 joined exactly those parts
        # (their ETags): nothing to read back.
        return _Assembled(StoredBytes(session.storage_key, total, sha256))
    return _Assembled(StoredBytes(session.storage_key, *_read_back(session, parts)))


def _read_back(session: UploadSession, parts: list[UploadPart]) -> tuple[int, str]:
    """The one read that verifies a joined file before it is visible: from where the
    running hash stopped (its saved state carried on), else the whole object. One GET
    stream read ahead by a thread while OpenSSL hashes (storage.object_sha256)."""
    prefix = hashed_prefix(session, parts)
    if prefix is None or session.hashed_parts == len(parts):
        return storage.object_sha256(session.storage_key)
    covered, running = prefix
    return storage.object_sha256(session.storage_key, start=covered, running=running)


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
