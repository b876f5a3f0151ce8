"""Nextcloud's chunked upload, `/remote.php/dav/uploads/{userid}/{id}/…`: a door of the
upload engine (files/uploads/), translating shapes and nothing else. An upload folder
is an upload session; a chunk is a part of it (an S3 multipart part on S3); the MOVE
of `.file` completes the session, and the file is committed as any other.

- MKCOL opens it (`Destination` names the file: chunking v2, numbered chunks; without
  one, the older names that give a chunk's first byte are taken too);
  `OC-Total-Length`, on the MKCOL or on any chunk, holds the quota for the whole file
  from then on.
- PUT `…/{n}` stores chunk n (1–10000), or `…/{start}-{end}` (or a number with
  `OC-Chunk-Offset`) the bytes from `start`.
  Chunks are taken in order (each follows the ones received), so the running
  OC-Checksum hashes follow the bytes without reading them again.
- PROPFIND lists the chunks received (what a client resumes from); DELETE aborts.
- MOVE `…/.file` (`Destination`, `OC-Total-Length`, `X-OC-Mtime`, `OC-Checksum`,
  `If-Match`, `If-None-Match`, `Overwrite`) completes it.

A request refused for what the upload holds (over quota, a wrong total, chunks
missing, a checksum that does not match, a Destination outside the user's files) ends
the upload: its chunks are deleted and its quota released.
"""

import re
import time
from urllib.parse import quote, unquote, urlparse
from xml.sax.saxutils import escape

from django.http import HttpResponse
from django.utils import timezone
from django.utils.http import http_date
from django.views.decorators.csrf import csrf_exempt

from dav import auth
from dav import selectors as dav_selectors
from files.models import UploadSource, UploadStatus
from files.uploads import assembly, parts, sessions
from files.uploads.http import raw_body_length
from folders import services as tree
from storage_site.core import storage
from storage_site.core.exceptions import ApplicationError, FileTooLarge, NameConflict, NotFound, QuotaExceeded

from . import checksums, webdav
from .models import ChunkedUpload

UPLOADS = "/remote.php/dav/uploads/"
FILES = "/remote.php/dav/files/"
NUMBERED = re.compile(r"^\d{1,5}$")  # chunking v2: 1 to 10000, zero-padded or not
BYTE_RANGE = re.compile(r"^(\d{1,20})-(\d{1,20})$")  # the older names: first-last (or end) byte
FINAL = ".file"
PENDING_NAME = "upload"  # the file's name until the MOVE names it (an upload opened without Destination)
# How long a MOVE waits for a big file's assembly before answering 423 (the client asks again).
ASSEMBLY_WAIT_SECONDS = 90
# On S3 a chunk that does not stream into its part (one sent again, compared before it is
# kept) is spooled whole to the temporary disk up to this size and sent as one part
# of the upload's multipart upload, so the MOVE joins parts already in place: a chunk
# streamed to an object of its own (the engine's way past 16 MiB) is copied again inside
# S3 at the MOVE, a second pass over the file while the client waits. The desktop app
# grows its chunks up to 1000 MB.
WHOLE_CHUNK_MAX = 1024 * 1024 * 1024
# What ends an upload when a chunk is refused for it (the upload as a whole cannot go on).
_FATAL_CODES = {"SIZE_MISMATCH", "UPLOAD_TOO_LONG", "FILE_TOO_LARGE", QuotaExceeded.code}


class Refused(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


@csrf_exempt
def uploads(request, user_id, transfer_id=None, chunk=None):
    user, refusal = auth.authenticate(request)
    if refusal is not None:
        return refusal
    if user_id != user.username:
        return webdav.refusal(403, "These are not your uploads.")
    method = request.method
    handlers = {
        "root": {"PROPFIND": _uploads_list},
        "upload": {"MKCOL": _upload_open, "PROPFIND": _chunks_list, "DELETE": _upload_abort},
        "chunk": {"PUT": _chunk_put, "MOVE": _upload_finish},
    }["root" if transfer_id is None else "upload" if chunk is None else "chunk"]
    handler = handlers.get(method)
    if handler is None:
        response = webdav.refusal(405, f"{method} is not allowed here.")
        response["Allow"] = ", ".join(handlers)
        return response
    try:
        return handler(request, user, transfer_id, chunk)
    except Refused as exc:
        return webdav.refusal(exc.status, exc.message)
    except ApplicationError as exc:
        return webdav.refusal(_dav_status(exc), exc.message)


def _dav_status(error: ApplicationError) -> int:
    """An engine error as a Nextcloud client reads it."""
    if isinstance(error, QuotaExceeded):
        return 507
    if isinstance(error, FileTooLarge) or error.code == "FILE_TOO_LARGE":
        return 413
    if isinstance(error, (NotFound, NameConflict)):  # the folder of the destination, a folder in the way
        return 409
    return error.status_code if 400 <= error.status_code < 600 else 400


# --- the upload folder -----------------------------------------------------------------------

def _upload_open(request, user, transfer_id, _chunk):
    if len(transfer_id) > 255 or transfer_id in (".", ".."):
        raise Refused(400, "An upload's name has 1 to 255 characters.")
    if raw_body_length(request):
        raise Refused(415, "MKCOL takes no body.")
    existing = _upload_of(user, transfer_id, open_only=False)
    if existing is not None and existing.session.status == UploadStatus.UPLOADING \
            and existing.session.expires_at <= timezone.now():  # its time ran out before the sweep came
        sessions.session_fail(existing.session, "UPLOAD_EXPIRED", "The upload expired before it was completed.",
                              status=UploadStatus.EXPIRED)
        existing.session.refresh_from_db()
    if existing is not None and existing.session.status in (UploadStatus.UPLOADING, UploadStatus.ASSEMBLING):
        raise Refused(405, "This upload folder exists already.")
    destination = request.headers.get("Destination")
    if destination:
        folder, name, _ = _destination(user, destination)
    else:
        folder, name = tree.home_get(user=user), PENDING_NAME
    session = sessions.session_start(user=user, folder=folder, name=name, source=UploadSource.NEXTCLOUD,
                                     expected_size=_total(request), local_id=transfer_id)
    try:
        if existing is not None:  # the folder of a finished upload, named again
            existing.delete()
        ChunkedUpload.objects.create(owner=user, transfer_id=transfer_id, session=session,
                                     numbered=bool(destination), hash_states=_new_hash_states())
    except BaseException as exc:
        sessions.session_abandon(session, exc)
        raise
    return HttpResponse(status=201)


def _new_hash_states() -> dict:
    if not checksums.resumable():
        return {}
    return {algorithm: checksums.running_hash(algorithm).state().hex() for algorithm in checksums.RUNNING}


def _upload_abort(request, user, transfer_id, _chunk):
    upload = _upload_of(user, transfer_id, open_only=False)
    if upload is None:
        raise Refused(404, "No such upload.")
    session = upload.session
    if session.status == UploadStatus.ASSEMBLING:
        raise Refused(423, "This upload is being assembled into its file.")
    if session.status == UploadStatus.UPLOADING:
        sessions.session_cancel(session)
    upload.delete()
    return HttpResponse(status=204)


def _upload_of(user, transfer_id: str, *, open_only: bool = True) -> ChunkedUpload | None:
    """The user's upload of that name (another user's is exactly a made-up one)."""
    upload = ChunkedUpload.objects.select_related("session", "session__node").filter(
        owner=user, transfer_id=transfer_id).first()
    if upload is None:
        return None
    session = upload.session
    if session.status == UploadStatus.UPLOADING and session.expires_at <= timezone.now():
        return None if open_only else upload
    if open_only and session.status != UploadStatus.UPLOADING:
        return None
    return upload


def _open_upload(user, transfer_id: str) -> ChunkedUpload:
    upload = _upload_of(user, transfer_id)
    if upload is None:
        raise Refused(404, "No such upload (it may have expired, failed or been completed).")
    return upload


def _total(request) -> int | None:
    value = request.headers.get("OC-Total-Length")
    if value is None:
        return None
    if not (value.isascii() and value.isdigit()):
        raise Refused(400, "OC-Total-Length must be a number of bytes.")
    return int(value)


def _end_on_refusal(upload: ChunkedUpload, error: ApplicationError) -> None:
    sessions.session_fail(upload.session, error.code, error.message)


# --- chunks ------------------------------------------------------------------------------------

def _chunk_put(request, user, transfer_id, chunk):
    upload = _open_upload(user, transfer_id)
    session = upload.session
    length = raw_body_length(request)
    checksum = checksums.checksum_parse(request.headers.get("OC-Checksum"))
    total = _total(request)
    try:
        if total is not None:
            session = sessions.session_size_declare(session, total)
        number, offset, appends = _chunk_place(upload, chunk, length, request.headers.get("OC-Chunk-Offset"))
    except ApplicationError as exc:
        if exc.code in _FATAL_CODES:
            _end_on_refusal(upload, exc)
        raise
    hashes = _hashes_from(upload, offset) if appends else {}
    body = _ChunkBody(request, hashes=hashes,
                      verify=checksums.VerifiedBody(request, checksum=checksum, length=length) if checksum else None)
    # A chunk that appends carries the file's SHA-256 on as it streams, as a tus body does
    # (chunks come in order): the MOVE then reads nothing back, whatever the chunk sizes.
    # A new chunk on S3 streams into its multipart part as it arrives (the desktop app sends
    # one chunk at a time, up to 1000 MB: receiving and storing each overlap); one sent again
    # is spooled, compared and kept or refused as before.
    into_part = appends and parts.part_streamable(session, length)
    whole = storage.is_s3() and storage.MIN_PART_SIZE <= length <= WHOLE_CHUNK_MAX
    try:
        received = parts.part_receive(body, length=length, spool_max=length if whole else None,
                                      session=session if appends else None, number=number, into_part=into_part)
        part = parts.part_accept(session=session, number=number, received=received, offset=offset)
    except ApplicationError as exc:
        if exc.code in _FATAL_CODES:
            _end_on_refusal(upload, exc)
        raise
    if appends and part.size == length:
        if hashes:  # carried on only by the chunk that follows the hashed bytes
            ChunkedUpload.objects.filter(pk=upload.pk, hashed_bytes=offset).update(
                hash_states={name: running.state().hex() for name, running in hashes.items()},
                hashed_bytes=offset + length)
        ChunkedUpload.objects.filter(pk=upload.pk).update(chunk_names={**upload.chunk_names, str(number): chunk})
    return HttpResponse(status=201)


def _chunk_place(upload: ChunkedUpload, name: str, length: int, offset_header: str | None) -> tuple[int, int, bool]:
    """(part number, byte offset, whether it appends) of the chunk `name`. Chunks come in
    order: one already received may come again (the same bytes), the next one appends,
    any other is refused. v2 names are numbers 1–10000; an upload opened without
    Destination also takes the older names, a chunk's first byte: `{first}-{last}`
    (rclone, nc-py-api), or 15 digits and more, or any number with OC-Chunk-Offset (the
    desktop app before v2)."""
    received = list(upload.session.parts.order_by("number").values_list("number", "offset", "size"))
    held = sum(size for _, _, size in received)
    by_range = None if upload.numbered else BYTE_RANGE.match(name)
    if by_range is None and not upload.numbered and name.isascii() and name.isdigit() and (
            offset_header is not None or len(name) >= 15):
        if offset_header is not None and not (offset_header.isascii() and offset_header.isdigit()):
            raise Refused(400, "OC-Chunk-Offset must be a number of bytes.")
        start = int(offset_header if offset_header is not None else name)
    elif by_range is not None:
        start, end = int(by_range.group(1)), int(by_range.group(2))
        if end not in (start + length - 1, start + length) or not length:
            raise Refused(400, f"Chunk '{name}' names other bytes than the {length} it has.")
    elif NUMBERED.match(name):
        number = int(name)
        if not 1 <= number <= sessions.MAX_PARTS:
            raise Refused(400, f"Chunk numbers are 1 to {sessions.MAX_PARTS}; not {name}.")
        if number <= len(received):
            return number, received[number - 1][1], False
        if number > len(received) + 1:
            raise Refused(400, f"Chunk {len(received) + 1} is missing: chunks are sent in order.")
        return number, held, True
    else:
        raise Refused(400, f"'{name}' is not a chunk name: chunks are numbered 1 to {sessions.MAX_PARTS}"
                           + ("." if upload.numbered else ", or named by their first byte."))
    for number, offset, _ in received:
        if offset == start:
            return number, offset, False
    if start != held:
        raise Refused(400, f"Bytes 0-{held - 1} were received; the next chunk starts at {held}, not {start}.")
    if len(received) >= sessions.MAX_PARTS:
        raise Refused(400, f"An upload has at most {sessions.MAX_PARTS} chunks.")
    return len(received) + 1, held, True


def _hashes_from(upload: ChunkedUpload, offset: int) -> dict:
    if upload.hashed_bytes != offset or not upload.hash_states:
        return {}
    return {name: checksums.running_hash(name, bytes.fromhex(state)) for name, state in upload.hash_states.items()}


class _ChunkBody:
    """A chunk's body as the engine reads it: each read also feeds the upload's running
    hashes and the chunk's own OC-Checksum check."""

    def __init__(self, stream, *, hashes: dict, verify):
        self.stream, self.hashes, self.verify = stream, hashes, verify

    def read(self, size: int = -1) -> bytes:
        data = self.verify.read(size) if self.verify is not None else self.stream.read(size)
        for running in self.hashes.values():
            running.update(data)
        return data


def _chunks_list(request, user, transfer_id, _chunk):
    upload = _open_upload(user, transfer_id)
    base = f"{UPLOADS}{quote(user.username)}/{quote(transfer_id)}/"
    entries = [(base, None, upload.session.updated_at)]
    if request.headers.get("Depth", "1") != "0":
        for number, size, created in upload.session.parts.order_by("number").values_list(
                "number", "size", "created_at"):
            entries.append((base + quote(upload.chunk_names.get(str(number), str(number))), size, created))
    return _multistatus(entries)


def _uploads_list(request, user, _transfer_id, _chunk):
    base = f"{UPLOADS}{quote(user.username)}/"
    entries = [(base, None, timezone.now())]
    if request.headers.get("Depth", "1") != "0":
        for upload in ChunkedUpload.objects.filter(owner=user, session__status=UploadStatus.UPLOADING,
                                                   session__expires_at__gt=timezone.now()).select_related("session"):
            entries.append((f"{base}{quote(upload.transfer_id)}/", None, upload.session.updated_at))
    return _multistatus(entries)


def _multistatus(entries) -> HttpResponse:
    """(href, size or None for a folder, modified) as a multistatus with Nextcloud's prefixes."""
    rows = []
    for href, size, modified in entries:
        kind = "<d:resourcetype><d:collection/></d:resourcetype>" if size is None else \
            f"<d:resourcetype/><d:getcontentlength>{size}</d:getcontentlength>"
        rows.append(f"<d:response><d:href>{escape(href)}</d:href><d:propstat><d:prop>{kind}"
                    f"<d:getlastmodified>{http_date(modified.timestamp())}</d:getlastmodified></d:prop>"
                    "<d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response>")
    declarations = " ".join(f'xmlns:{prefix}="{uri}"' for prefix, uri in webdav.NAMESPACES.items())
    body = f'<?xml version="1.0" encoding="UTF-8"?>\n<d:multistatus {declarations}>{"".join(rows)}</d:multistatus>'
    return HttpResponse(body, status=207, content_type="application/xml; charset=utf-8")


# --- the file -------------------------------------------------------------------------------------

def _destination(user, destination: str):
    """(folder, name, path below the home folder) of a Destination under the user's own
    `/remote.php/dav/files/{userid}/`; anywhere else is 403, a missing folder 409."""
    path = unquote(urlparse(destination).path)
    mount = FILES + user.username + "/"
    names = [name for name in path[len(mount):].split("/") if name] if path.startswith(mount) else []
    if not names:
        raise Refused(403, "The destination must be a file in your files.")
    folder = dav_selectors.node_at(user=user, names=names[:-1])
    if folder is None or not folder.is_folder:
        raise Refused(409, "The destination's folder does not exist.")
    return folder, names[-1], "/".join(names)


_IF_ETAGS = re.compile(r"\[([^\]]+)\]")  # the entity tags of an If header: (["etag"])


def _preconditions(request, existing) -> None:
    """If-Match (or the etags of an If header, as the desktop app sends) and
    If-None-Match on the destination, and Overwrite: F."""
    etag = existing.sha256 if existing is not None and not existing.is_folder else None
    if_match = request.headers.get("If-Match") or ", ".join(_IF_ETAGS.findall(request.headers.get("If", "")))
    if if_match and not (etag and (if_match.strip() == "*" or etag in _etags(if_match))):
        raise Refused(412, "The destination has changed (If-Match).")
    if_none_match = request.headers.get("If-None-Match")
    if if_none_match and existing is not None and (if_none_match.strip() == "*" or etag in _etags(if_none_match)):
        raise Refused(412, "The destination exists (If-None-Match).")
    if existing is not None and request.headers.get("Overwrite", "T").strip().upper() == "F":
        raise Refused(412, "The destination exists and Overwrite is F.")


def _etags(header: str) -> set[str]:
    """The entity tags of a header, bare: `"a", W/"b"` → {a, b}."""
    return {tag.strip().removeprefix("W/").strip('"') for tag in header.split(",") if tag.strip()}


def _upload_finish(request, user, transfer_id, chunk):
    if chunk != FINAL:
        raise Refused(405, f"Only {FINAL} is moved: it is the file the chunks make.")
    upload = _upload_of(user, transfer_id, open_only=False)
    if upload is None or upload.session.status == UploadStatus.EXPIRED:
        raise Refused(404, "No such upload (it may have expired).")
    session = upload.session
    if session.status in (UploadStatus.COMPLETE, UploadStatus.FAILED):  # a MOVE asked again
        return _finished(request, user, upload, path=None, mtime=None, checksum=None, created=True)
    mtime = None
    try:
        if not request.headers.get("Destination"):
            raise Refused(400, "MOVE needs a Destination.")
        folder, name, path = _destination(user, request.headers["Destination"])
        if "X-OC-Mtime" in request.headers:
            mtime = webdav.mtime_parse(request.headers["X-OC-Mtime"])
            if mtime is None:
                raise Refused(400, "X-OC-Mtime must be a Unix timestamp.")
        total = _total(request)
        checksum = checksums.checksum_parse(request.headers.get("OC-Checksum"))
        existing = tree.sibling_get(parent=folder, name=name)
        _preconditions(request, existing)
        created = existing is None
        if session.status == UploadStatus.UPLOADING:
            _complete(upload, folder=folder, name=name, total=total, checksum=checksum)
    except (Refused, ApplicationError) as exc:
        if getattr(exc, "status_code", 400) < 500:  # a storage or database failure may be retried
            session.refresh_from_db()
            if session.status == UploadStatus.UPLOADING:
                sessions.session_fail(session, getattr(exc, "code", "MOVE_REFUSED"), exc.message)
        raise
    return _finished(request, user, upload, path=path, mtime=mtime, checksum=checksum, created=created)


def _complete(upload: ChunkedUpload, *, folder, name: str, total: int | None, checksum) -> None:
    session = sessions.session_target_set(upload.session, folder=folder, name=name,
                                          policy=tree.ConflictPolicy.VERSION)
    sizes = list(session.parts.order_by("number").values_list("size", flat=True))
    received = sum(sizes)
    if total is not None and total != received:
        raise Refused(400, f"{received} bytes were received, OC-Total-Length says {total}: chunks are missing.")
    if session.expected_size is not None and session.expected_size != received:
        raise Refused(400, f"{received} bytes were received of the {session.expected_size} announced: "
                           "chunks are missing.")
    if not sizes:
        raise Refused(400, "No chunk was received.")
    if upload.numbered:
        small = [number for number, size in enumerate(sizes[:-1], start=1) if size < storage.MIN_PART_SIZE]
        if small:
            raise Refused(400, f"Chunk {small[0]} is smaller than 5 MiB; only the last chunk may be.")
    sha256 = None
    if checksum is not None and checksum[0] == "SHA256":
        sha256 = checksum[1]  # the engine verifies it against the SHA-256 it keeps
    elif checksum is not None:
        upload.refresh_from_db()
        state = upload.hash_states.get(checksum[0])
        if checksum[0] not in checksums.RUNNING:
            raise Refused(400, f"A chunked upload's OC-Checksum is Adler32, SHA1 or SHA256; not {checksum[0]}.")
        if upload.hashed_bytes != received or state is None:
            raise Refused(400, f"This upload's {checksum[0]} could not be followed; upload the file again.")
        if not checksums.matches(checksum, checksums.running_hash(checksum[0], bytes.fromhex(state)).hexdigest()):
            raise checksums.ChecksumMismatch()
    assembly.session_complete(session=session, checksum=sha256)


def _finished(request, user, upload: ChunkedUpload, *, path, mtime, checksum, created) -> HttpResponse:
    """Wait for the assembly (a worker's, for a big file), then answer as a PUT does."""
    session = upload.session
    deadline = time.monotonic() + ASSEMBLY_WAIT_SECONDS
    session.refresh_from_db()
    while session.status == UploadStatus.ASSEMBLING and time.monotonic() < deadline:
        time.sleep(0.2)
        session.refresh_from_db()
    if session.status == UploadStatus.ASSEMBLING:
        raise Refused(423, "The file is still being assembled; send the MOVE again.")
    if session.status != UploadStatus.COMPLETE or session.node_id is None:
        raise sessions.session_error(session)
    response = HttpResponse(status=201 if created else 204)
    webdav.answer_headers(response, user=user, method="PUT", path=path or "", mtime=mtime, node=session.node,
                          checksum=checksums.render(checksum) if checksum else None)
    return response
