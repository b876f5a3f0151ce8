"""tus 1.0.0 resumable uploads at /api/tus/ (https://tus.io/protocols/resumable-upload):
core, creation, creation-with-upload, termination, checksum and expiration.

A thin door onto the upload engine (`files/uploads/`): a tus upload is
one engine session of declared size (quota held from the start), and every PATCH
body is its next part, recorded at its offset. The offset is the sum of the parts,
so a body cut short keeps the bytes that arrived and the client resumes from there
(unless it sent a checksum, which such a body cannot match).

Requests authenticate like the rest of the API (Bearer JWT), or with the web drive's
sign-in cookie and its CSRF token (the drive's uploads); only OPTIONS is open.
Errors use the primary envelope. Stratus adds one header: `Stratus-File-Id: <file
UUID>` on the final PATCH and on HEAD once the file exists, the id the primary API
knows it by.
"""

import base64
import binascii
import hashlib
import io

from django.conf import settings
from django.urls import path, reverse
from django.utils import timezone
from django.utils.http import http_date
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from accounts.authentication import BrowserSessionAuthentication, SessionJWTAuthentication
from folders import services as tree
from storage_site.core.api import ErrorEnvelopeSerializer, PrimaryView
from storage_site.core.exceptions import ApplicationError
from storage_site.core.fields import INT64_MAX, int_schema

from ..models import UploadSession, UploadSource, UploadStatus
from .. import uploads as engine
from ..uploads.http import raw_body_length

TUS_VERSION = "1.0.0"
EXTENSIONS = "creation,creation-with-upload,termination,checksum,expiration"
CHECKSUMS = {"sha1": hashlib.sha1, "md5": hashlib.md5, "sha256": hashlib.sha256}
OFFSET_STREAM = "application/offset+octet-stream"
DEFAULT_NAME = "upload"  # when the client sends no `filename`


class ChecksumMismatch(ApplicationError):
    status_code = 460  # the checksum extension's own status
    code = "CHECKSUM_MISMATCH"
    message = "The body does not match its Upload-Checksum; nothing was stored."


# --- reading the tus headers -----------------------------------------------------------

def _non_negative_int(value: str | None, header: str) -> int:
    if value is None or not (value.isascii() and value.isdigit()) or len(value) > 19 or int(value) > INT64_MAX:
        raise ApplicationError(f"{header} must be a non-negative integer.", code="VALIDATION_ERROR")
    return int(value)


def _metadata(header: str) -> dict[str, str]:
    """`key base64,key base64,key` → {key: text}; a key may come without a value."""
    found = {}
    for pair in filter(None, (item.strip() for item in header.split(","))):
        key, _, value = pair.partition(" ")
        try:
            found[key] = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise ApplicationError(f"Upload-Metadata: the value of `{key}` is not base64 of UTF-8 text.",
                                   code="INVALID_METADATA") from None
    return found


def _checksum(request) -> tuple[str, bytes] | None:
    """`Upload-Checksum: <algorithm> <base64 digest>` → (algorithm, digest), or None."""
    header = request.headers.get("Upload-Checksum")
    if not header:
        return None
    algorithm, _, digest = header.strip().partition(" ")
    if algorithm not in CHECKSUMS:
        raise ApplicationError(f"Checksum algorithm `{algorithm}` is not supported; use one of "
                               f"{', '.join(CHECKSUMS)}.", code="UNSUPPORTED_CHECKSUM_ALGORITHM")
    try:
        return algorithm, base64.b64decode(digest.strip(), validate=True)
    except binascii.Error:
        raise ApplicationError("Upload-Checksum: the digest is not base64.", code="INVALID_CHECKSUM") from None


def _is_offset_stream(request) -> bool:
    return request.content_type.split(";")[0].strip().lower() == OFFSET_STREAM


class _HashingReader:
    """The request body, hashed as the engine reads it."""

    def __init__(self, stream, algorithm: str):
        self.stream, self.hash = stream, CHECKSUMS[algorithm]()

    def read(self, size: int) -> bytes:
        data = self.stream.read(size)
        self.hash.update(data)
        return data


# --- the upload ------------------------------------------------------------------------

def _upload(request, upload_id) -> UploadSession:
    """The caller's own tus upload (another user's is not found). One that ended without
    a file — cancelled, failed, expired — is gone."""
    session = engine.session_get(user=request.user, upload_id=upload_id, source=UploadSource.TUS)
    expired = session.status == UploadStatus.UPLOADING and session.expires_at <= timezone.now()
    if session.status in (UploadStatus.FAILED, UploadStatus.EXPIRED) or expired:
        raise ApplicationError(session.error_message or "This upload has expired.",
                               code=session.error_code or "UPLOAD_EXPIRED", status_code=410)
    return session


def _held(session: UploadSession) -> tuple[int, int]:
    """(bytes the server holds, parts recorded): the offset the next PATCH must start at."""
    state = engine.session_state(session)
    return state["bytesReceived"], len(state["receivedParts"])


def _upload_headers(session: UploadSession, offset: int) -> dict[str, str]:
    headers = {"Upload-Offset": str(offset)}
    if session.status == UploadStatus.UPLOADING:  # a finished upload no longer expires
        headers["Upload-Expires"] = http_date(session.expires_at.timestamp())
    if session.node_id:
        headers["Stratus-File-Id"] = str(session.node.uuid)
    return headers


def _append(request, session: UploadSession, *, offset: int) -> tuple[UploadSession, int]:
    """Store the request body at `offset` as the session's next part; complete the
    upload once it is whole. Returns the session as it now stands and its offset."""
    held, parts = _held(session)
    if offset != held:
        raise engine.UploadError(f"The upload holds {held} bytes; send from there.", code="OFFSET_MISMATCH",
                                 status_code=409, headers={"Upload-Offset": str(held)})
    length = raw_body_length(request)
    if length > session.expected_size - held:
        raise engine.UploadError(f"The body passes the declared Upload-Length ({session.expected_size} bytes); "
                                 "nothing was stored.", code="UPLOAD_TOO_LONG", status_code=413)
    checksum = _checksum(request)
    if length or not (parts or session.expected_size):  # a zero-length upload is one empty part
        held += _store_part(request, session, number=parts + 1, offset=offset, length=length, checksum=checksum)
    if held < session.expected_size:
        session.refresh_from_db()  # the part moved the expiry on
        return session, held
    session = engine.session_complete(session=session)  # small files now, big ones by the task
    if session.status == UploadStatus.FAILED:  # the bytes arrived but could not become a file
        raise engine.session_error(session)
    return session, held


def _store_part(request, session: UploadSession, *, number: int, offset: int, length: int,
                checksum: tuple[str, bytes] | None) -> int:
    """Receive the body into part `number`; returns the bytes kept."""
    stream = request.stream if length else io.BytesIO()  # never request.data: DRF must not parse it
    reader = _HashingReader(stream, checksum[0]) if checksum else stream
    received = engine.part_receive(reader, length=length, spool_max=0, keep_partial=True, session=session,
                                   number=number)
    if checksum and (received.size != length or reader.hash.digest() != checksum[1]):
        received.discard()  # a body cut short cannot match its checksum either
        raise ChecksumMismatch()
    if length and not received.size:
        received.discard()
        return 0
    try:
        engine.part_accept(session=session, number=number, received=received, offset=offset)
    except ApplicationError as exc:  # the engine has dropped the refused bytes
        if exc.status_code == 409:  # another request moved the upload on: say where it stands
            exc.headers["Upload-Offset"] = str(_held(session)[0])
        raise
    return received.size


# --- schema ------------------------------------------------------------------------------

def _header(name: str, description: str, *, required: bool = False, type=OpenApiTypes.STR, response=False):
    return OpenApiParameter(name, type, OpenApiParameter.HEADER, required=required, description=description,
                            response=response)


TUS_RESUMABLE = _header("Tus-Resumable", "Always `1.0.0`; any other value is a 412 naming `Tus-Version`.",
                        required=True)
UPLOAD_ID = OpenApiParameter("id", OpenApiTypes.UUID, OpenApiParameter.PATH, description="The upload's id")
ERROR = ErrorEnvelopeSerializer
BINARY_BODY = {OFFSET_STREAM: OpenApiTypes.BINARY}
SPEC = "https://tus.io/protocols/resumable-upload"


class _JsonWhateverAccepted(BaseContentNegotiation):
    """tus answers carry headers, and errors the JSON envelope, whatever the client's
    `Accept` says: a browser's `text/html` gets no HTML page (DRF's browsable page
    cannot describe raw-body endpoints)."""

    def select_parser(self, request, parsers):
        return parsers[0] if parsers else None

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


class TusView(PrimaryView):
    """Every tus answer names the protocol version; every request but OPTIONS must."""

    parser_classes = []  # bodies are raw bytes the views stream themselves
    renderer_classes = [JSONRenderer]
    content_negotiation_class = _JsonWhateverAccepted
    authentication_classes = [SessionJWTAuthentication, BrowserSessionAuthentication]

    def initial(self, request, *args, **kwargs):
        if request.method == "OPTIONS":
            return  # discovery is open, with or without credentials
        super().initial(request, *args, **kwargs)
        if request.headers.get("Tus-Resumable") != TUS_VERSION:
            raise ApplicationError(f"Send `Tus-Resumable: {TUS_VERSION}`.", code="TUS_VERSION_UNSUPPORTED",
                                   status_code=412, headers={"Tus-Version": TUS_VERSION})

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        response["Tus-Resumable"] = TUS_VERSION
        if response.status_code == ChecksumMismatch.status_code:
            response.reason_phrase = "Checksum Mismatch"
        return response

    def options(self, request, *args, **kwargs):
        return Response(status=204, headers={
            "Tus-Version": TUS_VERSION, "Tus-Extension": EXTENSIONS,
            "Tus-Max-Size": str(settings.UPLOAD_SESSION_MAX_SIZE),
            "Tus-Checksum-Algorithm": ",".join(CHECKSUMS)})


class TusCreateView(TusView):
    @extend_schema(
        tags=["tus"], summary="Create a tus upload (creation, creation-with-upload)",
        description=f"tus 1.0.0 ({SPEC}). `OPTIONS /api/tus/` (no authentication) answers 204 with "
                    f"`Tus-Version`, `Tus-Extension: {EXTENSIONS}`, `Tus-Max-Size` and "
                    "`Tus-Checksum-Algorithm`.\n\n"
                    "`Upload-Length` is required (`Upload-Defer-Length` is not supported); quota is held for it "
                    "at once. `Upload-Metadata` keys: `filename` (or `name`), `filetype` (or `mimetype`, "
                    "`type`), `folderId` (a folder UUID; home when absent). A name already taken gets a "
                    "` (n)` suffix. A body of type `application/offset+octet-stream` is the first PATCH; "
                    "a zero-length upload is complete at once.",
        request=BINARY_BODY,
        parameters=[TUS_RESUMABLE,
                    _header("Upload-Length", "The whole upload's size in bytes.", required=True,
                            type=int_schema()),
                    _header("Upload-Metadata", "Comma-separated `key base64(value)` pairs."),
                    _header("Upload-Checksum", "With a body: `<sha1|md5|sha256> <base64 digest>` of it."),
                    _header("Location", "The upload's URL.", response=[201]),
                    _header("Upload-Expires", "When an unfinished upload is deleted (RFC 7231 date).",
                            response=[201]),
                    _header("Upload-Offset", "Bytes held, when the request had a body.", response=[201],
                            type=OpenApiTypes.INT)],
        responses={201: OpenApiResponse(description="Created."), 400: ERROR, 401: ERROR, 404: ERROR,
                   412: ERROR, 413: OpenApiResponse(ERROR, description="Over the quota or `Tus-Max-Size`."),
                   415: ERROR, 460: OpenApiResponse(ERROR, description="Checksum Mismatch")})
    def post(self, request):
        if "Upload-Defer-Length" in request.headers:
            raise ApplicationError("Upload-Defer-Length is not supported; send Upload-Length.",
                                   code="VALIDATION_ERROR")
        length = _non_negative_int(request.headers.get("Upload-Length"), "Upload-Length")
        metadata = _metadata(request.headers.get("Upload-Metadata", ""))
        with_body = raw_body_length(request) > 0
        if with_body and not _is_offset_stream(request):
            raise ApplicationError(f"An upload's bytes are sent as {OFFSET_STREAM}.",
                                   code="UNSUPPORTED_MEDIA_TYPE", status_code=415)
        folder = tree.folder_get_or_home(user=request.user, folder_id=metadata.get("folderId"))
        session = engine.session_start(
            user=request.user, folder=folder, source=UploadSource.TUS, expected_size=length,
            name=metadata.get("filename") or metadata.get("name") or DEFAULT_NAME,
            mime_type=metadata.get("filetype") or metadata.get("mimetype") or metadata.get("type"),
            policy=tree.ConflictPolicy.RENAME)
        location = request.build_absolute_uri(reverse("files:tus-upload", args=[session.uuid]))
        headers = {"Location": location, "Upload-Expires": http_date(session.expires_at.timestamp())}
        if with_body or not length:
            try:
                session, offset = _append(request, session, offset=0)
            except ApplicationError as exc:
                exc.headers["Location"] = location  # the upload exists: the client may resume it
                raise
            except Exception as exc:  # a 5xx without a Location: nobody could resume it
                engine.session_abandon(session, exc)
                raise
            headers.update(_upload_headers(session, offset))
        return Response(status=201, headers=headers)


class TusUploadView(TusView):
    @extend_schema(
        tags=["tus"], summary="Append to a tus upload (core, checksum)",
        description="`HEAD /api/tus/{id}` answers 200 with `Upload-Offset` (bytes held), `Upload-Length`, "
                    "`Upload-Metadata`, `Upload-Expires` and `Cache-Control: no-store`; 404 for an unknown "
                    "(or another user's) upload, 410 for one cancelled, failed or expired. Once the file "
                    "exists, HEAD and the final PATCH carry `Stratus-File-Id` (the file's UUID).\n\n"
                    "PATCH sends bytes from `Upload-Offset`, which must equal the bytes held (else 409 with "
                    "the held `Upload-Offset`). A body cut short keeps what arrived. With `Upload-Checksum` a "
                    "body that does not match (or arrives short) is discarded: 460. The last byte completes "
                    "the upload; a big file is assembled by a worker, so `Stratus-File-Id` may appear on a "
                    "later HEAD.",
        request=BINARY_BODY,
        parameters=[UPLOAD_ID, TUS_RESUMABLE,
                    _header("Upload-Offset", "Where this body starts.", required=True, type=int_schema()),
                    _header("Upload-Checksum", "`<sha1|md5|sha256> <base64 digest>` of this body."),
                    _header("Upload-Offset", "Bytes held now.", response=[204, 409], type=OpenApiTypes.INT),
                    _header("Upload-Expires", "When the unfinished upload is deleted.", response=[204]),
                    _header("Stratus-File-Id", "The file's UUID, once it exists.", response=[204],
                            type=OpenApiTypes.UUID)],
        responses={204: OpenApiResponse(description="Stored."), 400: ERROR, 401: ERROR, 404: ERROR,
                   409: ERROR, 410: ERROR, 412: ERROR, 413: ERROR, 415: ERROR,
                   460: OpenApiResponse(ERROR, description="Checksum Mismatch")})
    def patch(self, request, id):
        session = _upload(request, id)
        if not _is_offset_stream(request):
            raise ApplicationError(f"PATCH bodies are {OFFSET_STREAM}.", code="UNSUPPORTED_MEDIA_TYPE",
                                   status_code=415)
        offset = _non_negative_int(request.headers.get("Upload-Offset"), "Upload-Offset")
        session, offset = _append(request, session, offset=offset)
        return Response(status=204, headers=_upload_headers(session, offset))

    def head(self, request, id):
        session = _upload(request, id)
        headers = _upload_headers(session, _held(session)[0])
        headers.update({"Upload-Length": str(session.expected_size), "Cache-Control": "no-store",
                        "Upload-Metadata": f"filename {base64.b64encode(session.name.encode()).decode()}"})
        return Response(status=200, headers=headers)

    @extend_schema(tags=["tus"], summary="Cancel a tus upload (termination)", parameters=[UPLOAD_ID, TUS_RESUMABLE],
                   description="Deletes the bytes received and releases the quota held; the upload then "
                               "answers 410. A completed upload is a file: delete that instead (409).",
                   request=None, responses={204: OpenApiResponse(description="Cancelled."), 401: ERROR,
                                            404: ERROR, 409: ERROR, 410: ERROR, 412: ERROR})
    def delete(self, request, id):
        engine.session_cancel(_upload(request, id))
        return Response(status=204)


urls = [
    path("api/tus/", TusCreateView.as_view(), name="tus-create"),
    path("api/tus/<str:id>", TusUploadView.as_view(), name="tus-upload"),
]
