"""Uploads cut short: a clear 400, nothing stored, not even a partial object, usage exact."""

import io
import os

import pytest
from django.core.files.storage import storages

from files.models import Blob

from .helpers import usage

pytestmark = pytest.mark.django_db

BOUNDARY = "StratusBoundary"


def _multipart(payload: bytes) -> bytes:
    head = (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"t.bin\"\r\n"
            "Content-Type: application/octet-stream\r\n\r\n").encode()
    return head + payload + f"\r\n--{BOUNDARY}--\r\n".encode()


def _stored_objects() -> list[str]:
    storage = storages["default"]
    if hasattr(storage, "bucket"):
        return [obj.key for obj in storage.bucket.objects.filter(Prefix="blobs/")]
    found = []
    for root, _dirs, files in os.walk(storage.location):
        found += [os.path.join(root, f) for f in files]
    return found


def _post(client, body: bytes, declared: int, stream=None):
    extra = {"wsgi.input": stream} if stream is not None else {}
    return client.generic("POST", "/api/files/upload", b"" if stream is not None else body,
                          content_type=f"multipart/form-data; boundary={BOUNDARY}", CONTENT_LENGTH=str(declared),
                          **extra)


@pytest.mark.parametrize("size", [1000, 9 * 1024 * 1024])  # one PUT, and an S3 multipart upload
def test_body_ending_early_stores_nothing(auth_client, size):
    before = _stored_objects()
    body = _multipart(b"A" * size)
    resp = _post(auth_client, body, len(body), stream=io.BytesIO(body[: len(body) - size // 2]))
    assert resp.status_code == 400
    assert resp.json()["success"] is False
    stats = usage(auth_client)
    assert stats["used"] == 0 and stats["reserved"] == 0
    assert Blob.objects.count() == 0
    assert _stored_objects() == before


def test_client_vanishing_mid_body_is_incomplete_upload(auth_client):
    body = _multipart(b"B" * 50000)
    # The test client's payload raises when read past its end, as a server does on a dropped connection.
    resp = _post(auth_client, body[:30000], len(body))
    assert resp.status_code == 400
    assert resp.json()["error"]["code"] == "INCOMPLETE_UPLOAD"
    assert usage(auth_client)["reserved"] == 0
    assert Blob.objects.count() == 0


def test_failure_after_bytes_are_stored_leaves_nothing(auth_client, other_client):
    """The body arrives whole but the target folder is someone else's: the streamed object is deleted."""
    before = _stored_objects()
    folder = other_client.post("/api/folders/create", {"name": "theirs"}, format="json").json()["data"]
    from django.core.files.uploadedfile import SimpleUploadedFile

    resp = auth_client.post("/api/files/upload", {"file": SimpleUploadedFile("x.bin", b"x" * 5000),
                                                  "folderId": folder["id"]}, format="multipart")
    assert resp.status_code == 404
    assert _stored_objects() == before
    assert usage(auth_client)["reserved"] == 0
