"""Stream the `file` part of a multipart upload straight to storage while the
request body is read: no temporary file, no second pass, memory stays flat."""

import logging

from django.core.files.uploadedfile import UploadedFile
from django.core.files.uploadhandler import FileUploadHandler, StopFutureHandlers

from rest_framework.exceptions import APIException

from storage_site.core import storage
from storage_site.core.exceptions import ApplicationError

from ..services import upload_sessions
from ..services.blobs import blob_key_new
from ..services.uploads import StoredBytes


logger = logging.getLogger(__name__)


class StoredUpload(UploadedFile):
    """What the form sees for a streamed file: its name, type, size and where the bytes went."""

    def __init__(self, *, stored: StoredBytes, name: str, content_type: str):
        super().__init__(file=None, name=name, content_type=content_type, size=stored.size)
        self.stored = stored


class StorageUploadHandler(FileUploadHandler):
    field_name = "file"

    def __init__(self, request=None):
        super().__init__(request)
        self.writer = None
        self.stored: StoredBytes | None = None

    def new_file(self, field_name, file_name, content_type, content_length, charset=None, content_type_extra=None):
        super().new_file(field_name, file_name, content_type, content_length, charset, content_type_extra)
        if field_name != self.field_name:
            self.writer = None  # other file fields are read and dropped
            raise StopFutureHandlers()
        if self.writer is not None or self.stored is not None:
            self.abort()
            raise ApplicationError("Send one `file` per request.", code="VALIDATION_ERROR")
        self.writer = storage.open_writer(blob_key_new())
        raise StopFutureHandlers()

    def receive_data_chunk(self, raw_data, start):
        if self.writer is not None:
            self.writer.write(raw_data)
        return None

    def file_complete(self, file_size):
        if self.writer is None:
            return None
        size, sha256 = self.writer.close()
        self.stored = StoredBytes(self.writer.key, size, sha256)
        self.writer = None
        return StoredUpload(stored=self.stored, name=self.file_name, content_type=self.content_type)

    def upload_interrupted(self):
        self.abort()

    def abort_unfinished(self):
        """A body that ended before its file part did: drop the part being written."""
        if self.writer is not None:
            self.writer.abort()
            self.writer = None

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
    """Stream the `file` part of a chunk upload into a `PartSpool`: held in memory up
    to a part's size with S3 (so it can go straight into a multipart upload), else
    written to storage as it arrives."""

    field_name = "file"

    def __init__(self, request=None):
        super().__init__(request)
        self.spool = None
        self.received = None

    def new_file(self, field_name, file_name, content_type, content_length, charset=None, content_type_extra=None):
        super().new_file(field_name, file_name, content_type, content_length, charset, content_type_extra)
        if field_name != self.field_name:
            raise StopFutureHandlers()
        if self.spool is not None or self.received is not None:
            self.abort()
            raise ApplicationError("Send one `file` per request.", code="VALIDATION_ERROR")
        self.spool = upload_sessions.PartSpool(memory_max=upload_sessions.part_memory_max())
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
        self.abort()

    def abort_unfinished(self):
        if self.spool is not None:
            self.spool.abort()
            self.spool = None

    def abort(self):
        if self.spool is not None:
            self.spool.abort()
            self.spool = None
        if self.received is not None:
            self.received.discard()
            self.received = None


def read_body(request, handler):
    """Parse a multipart body through `handler`; a body cut short (client gone, short
    Content-Length) is a 400, and a part left half-written is dropped."""
    try:
        return request.data
    except (ApplicationError, APIException):
        raise
    except Exception as exc:
        logger.info("upload body could not be read: %r", exc)
        raise ApplicationError("The upload was interrupted before the whole body arrived.",
                               code="INCOMPLETE_UPLOAD") from exc
    finally:
        handler.abort_unfinished()
