"""Moved to files/uploads/http.py (the upload pipeline's HTTP adapter); this name
stays so that code written against it keeps working."""

from files.uploads.http import (  # noqa: F401
    MULTIPART_OVERHEAD, READ_CHUNK, PartUpload, PartUploadHandler, StoredUpload, StorageUploadHandler, body_size_check,
    body_stream, file_received, form_receive, raw_body_length, read_body, streamed_form,
)
