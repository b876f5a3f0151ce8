"""The HTTP adapter of the upload pipeline: every door reads its request through
these, so the doors only translate shapes. A multipart `file` part streams straight
to storage (`StorageUploadHandler`) or into a chunk's spool (`PartUploadHandler`)
while the body is read: no temporary file, no second pass, memory stays flat."""

import logging
from contextlib import ExitStack, contextmanager

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.core.files.uploadhandler import FileUploadHandler, StopFutureHandlers
from django.http import QueryDict
from django.http.multipartparser import MultiPartParser as DjangoMultiPartParser
from django.http.multipartparser import MultiPartParserError
from rest_framework.exceptions import APIException, ParseError
from rest_framework.parsers import DataAndFiles

from storage_site.core import storage
from storage_site.core.parsers import MultiPartParser, form_check
from storage_site.core.exceptions import ApplicationError, FileTooLarge, QuotaExceeded

from ..services.blobs import blob_key_new
from . import parts
from .intake import HEAD_BYTES, StoredBytes, upload_quota


logger = logging.getLogger(__name__)

# Form fields and boundaries around the file part of a multipart body; not charged to the quota.
MULTIPART_OVERHEAD = 64 * 1024


def raw_body_length(request) -> int:
    """The length of a raw (not multipart) body. A chunked body is refused (411): Django
    reads a body only up to its Content-Length, so it would look empty; no length at
    all is an empty body (RFC 9112 §6.3)."""
    if "chunked" in request.META.get("HTTP_TRANSFER_ENCODING", "").lower():
        raise ApplicationError("Send a Content-Length; chunked bodies are not supported.",
                               code="LENGTH_REQUIRED", status_code=411)
    length = request.META.get("CONTENT_LENGTH") or "0"
    if not (length.isascii() and length.isdigit()):
        raise ApplicationError("Content-Length must be a non-negative integer.", code="MALFORMED_REQUEST")
    return int(length)


def body_size_check(request, *, limit: int, message: str | None = None) -> int:
    """The file bytes a multipart body can hold (its Content-Length less the form's
    overhead): refused with 413 beyond `limit` before a byte of the body is read."""
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        raise ApplicationError("Content-Length must be a number.", code="MALFORMED_REQUEST") from None
    if declared > limit + MULTIPART_OVERHEAD:
        raise FileTooLarge(message)
    return max(0, declared - MULTIPART_OVERHEAD)


class StoredUpload(UploadedFile):
    """What the form sees for a streamed file: its name, type, size and where the bytes went."""

    def __init__(self, *, stored: StoredBytes, name: str, content_type: str):
        super().__init__(file=None, name=name, content_type=content_type, size=stored.size)
        self.stored = stored


# How much of the body the multipart parser asks the server for at a time. Django's 64 KiB
# default makes gunicorn copy its read-ahead buffer (up to 1 MiB) again on every read.
READ_CHUNK = 1024 * 1024


class StorageUploadHandler(FileUploadHandler):
    field_name = "file"
    chunk_size = READ_CHUNK

    def __init__(self, request=None, *, reservation=None, before_file=None):
        super().__init__(request)
        self.before_file = before_file  # called with the fields known so far, before a byte is stored
        self.fields_so_far = QueryDict
        self.writer = None
        self.stored: StoredBytes | None = None
        self.body_length: int | None = None
        self.cut_short = False
        self.head: bytes | None = None
        self.reservation = reservation  # its lease is renewed while the bytes flow

    def handle_raw_input(self, input_data, META, content_length, boundary, encoding=None):
        self.body_length = content_length  # bounds the file: an S3 writer sizes its parts by it

    def new_file(self, field_name, file_name, content_type, content_length, charset=None, content_type_extra=None):
        super().new_file(field_name, file_name, content_type, content_length, charset, content_type_extra)
        if field_name != self.field_name:
            self.writer = None  # other file fields are read and dropped
            raise StopFutureHandlers()
        if self.writer is not None or self.stored is not None:
            self.abort()
            raise ApplicationError("Send one `file` per request.", code="VALIDATION_ERROR")
        if self.before_file is not None:
            fields = self.request.GET.copy()
            fields.update(self.fields_so_far())
            self.before_file(fields)
        self.writer = storage.open_writer(blob_key_new(), size_hint=self.body_length)
        raise StopFutureHandlers()

    def receive_data_chunk(self, raw_data, start):
        if self.writer is not None:
            if start == 0:
                self.head = raw_data[:HEAD_BYTES]  # what previews tell a kind from (intake.StoredBytes)
            self.writer.write(raw_data)
        if self.reservation is not None:
            self.reservation.renew()
        return None

    def file_complete(self, file_size):
        if self.writer is None:
            return None
        size, sha256 = self.writer.close()
        self.stored = StoredBytes(self.writer.key, size, sha256, head=self.head)
        self.writer = None
        return StoredUpload(stored=self.stored, name=self.file_name, content_type=self.content_type)

    def upload_interrupted(self):
        self.abort_unfinished()  # Django: the body ended inside the file part
        self.cut_short = True

    def abort_unfinished(self) -> bool:
        """A body that ended before its file part did: drop the part being written.
        True when the body was cut short inside the file part."""
        if self.writer is not None:
            self.writer.abort()
            self.writer = None
            self.cut_short = True
        return self.cut_short

    def abort(self):
        """Leave nothing behind: the part being written and a finished one not yet used."""
        if self.writer is not None:
            self.writer.abort()
            self.writer = None
        if self.stored is not None:
            storage.delete(self.stored.key)
            self.stored = None


class PartUpload(UploadedFile):
    """What the form sees for a streamed chunk: the engine's `ReceivedPart`."""

    def __init__(self, *, received, name: str, content_type: str):
        super().__init__(file=None, name=name, content_type=content_type, size=received.size)
        self.received = received


class PartUploadHandler(FileUploadHandler):
    """Stream the `file` part of a chunk upload into a `PartSpool`: spooled to a
    temporary file up to a part's size with S3 (so it can go straight into a multipart
    upload), else written to storage as it arrives."""

    field_name = "file"
    chunk_size = READ_CHUNK

    def __init__(self, request=None):
        super().__init__(request)
        self.spool = None
        self.received = None
        self.cut_short = False

    def new_file(self, field_name, file_name, content_type, content_length, charset=None, content_type_extra=None):
        super().new_file(field_name, file_name, content_type, content_length, charset, content_type_extra)
        if field_name != self.field_name:
            raise StopFutureHandlers()
        if self.spool is not None or self.received is not None:
            self.abort()
            raise ApplicationError("Send one `file` per request.", code="VALIDATION_ERROR")
        self.spool = parts.PartSpool(spool_max=parts.part_spool_max())
        raise StopFutureHandlers()

    def receive_data_chunk(self, raw_data, start):
        if self.spool is not None:
            self.spool.write(raw_data)
        return None

    def file_complete(self, file_size):
        if self.spool is None:
            return None
        self.received = self.spool.close()
        self.spool = None
        return PartUpload(received=self.received, name=self.file_name, content_type=self.content_type)

    def upload_interrupted(self):
        self.abort_unfinished()
        self.cut_short = True

    def abort_unfinished(self) -> bool:
        if self.spool is not None:
            self.spool.abort()
            self.spool = None
            self.cut_short = True
        return self.cut_short

    def abort(self):
        if self.spool is not None:
            self.spool.abort()
            self.spool = None
        if self.received is not None:
            self.received.discard()
            self.received = None


class _FieldsSeenParser(DjangoMultiPartParser):
    """Django's multipart parser, telling the upload handler the form fields it has read
    so far: a field sent before the file part can be checked before a byte is stored."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for handler in self._upload_handlers:
            handler.fields_so_far = lambda: self._post


class _FieldsSeenMultiPartParser(MultiPartParser):
    def parse(self, stream, media_type=None, parser_context=None):
        request = parser_context["request"]
        meta = {**request.META, "CONTENT_TYPE": media_type}
        try:
            data, files = _FieldsSeenParser(meta, stream, request.upload_handlers,
                                             parser_context.get("encoding", settings.DEFAULT_CHARSET)).parse()
        except MultiPartParserError as exc:
            raise ParseError(f"Multipart form parse error - {exc}") from exc
        form_check(data)
        return DataAndFiles(data, files)


def form_receive(request, handler):
    """Parse a multipart body through `handler` alone (see `read_body`). The one place
    that reaches the Django request under DRF's: no view needs `request._request`."""
    handler.request = request._request
    request._request.upload_handlers = [handler]
    request.parsers = [_FieldsSeenMultiPartParser() if isinstance(parser, MultiPartParser) else parser
                       for parser in request.parsers]
    return read_body(request, handler)


def body_stream(request):
    """A raw (not multipart) request body to read as a stream: Django's request, which
    stops at Content-Length. Never `request.data`: DRF must not parse it."""
    return request._request


def read_body(request, handler):
    """Parse a multipart body through `handler`; a body cut short (client gone, short
    Content-Length) is a 400, and a part left half-written is dropped."""
    try:
        data = request.data
    except (ApplicationError, APIException):
        raise
    except Exception as exc:
        logger.info("upload body could not be read: %r", exc)
        raise _interrupted() from exc
    finally:
        # Django's parser ends quietly when the body stops inside the file part.
        cut_short = handler.abort_unfinished()
    if cut_short:
        raise _interrupted()
    return data


def _interrupted() -> ApplicationError:
    return ApplicationError("The upload was interrupted before the whole body arrived.", code="INCOMPLETE_UPLOAD")


@contextmanager
def file_received(request, serializer_class, *, too_large: str, purpose: str = "upload", refused=None,
                  before_file=None):
    """Receive a multipart form whose `file` streams straight to storage, under the
    quota of the declared body (`intake.upload_quota`; 413 before a byte is read when
    it cannot fit; `refused` is called with that error first). `before_file(fields)`
    sees the query and the form fields sent before the file part, and may refuse before
    a byte is stored. Yields (validated data, the hold): the block
    commits `data["file"].stored` with the hold; if it raises, the stored object is
    deleted and whatever the block did not commit is released."""
    size = body_size_check(request, limit=settings.UPLOAD_MAX_SIZE, message=too_large)
    with ExitStack() as stack:
        try:
            reservation = stack.enter_context(upload_quota(user=request.user, size=size, purpose=purpose))
        except QuotaExceeded as exc:
            if refused is not None:
                refused(exc)
            raise
        data, handler = streamed_form(request, serializer_class, too_large=too_large, reservation=reservation,
                                      before_file=before_file)
        try:
            yield data, reservation
        except BaseException:
            handler.abort()
            raise


def streamed_form(request, serializer_class, *, too_large: str, reservation=None, before_file=None):
    """Parse a multipart form whose `file` streams straight to storage while the body
    is read (no temporary file), renewing `reservation`'s lease as bytes arrive.
    Returns (validated data, handler); the caller hands `data["file"].stored` to a
    service, or calls `handler.abort()` to drop it."""
    handler = StorageUploadHandler(reservation=reservation, before_file=before_file)
    try:
        payload = serializer_class(data=form_receive(request, handler))
        payload.is_valid(raise_exception=True)
        if payload.validated_data["file"].size > settings.UPLOAD_MAX_SIZE:
            raise FileTooLarge(too_large)
    except BaseException:
        handler.abort()
        raise
    return payload.validated_data, handler
