"""The upload pipeline as every door sees it (files/uploads/): a refused target keeps
no byte, no row and no quota, whichever door the bytes came through."""

import os

import pytest

from storage_site.testing.invariants import assert_storage_invariants, leftovers_clear
from storage_site.tests.test_faults_crashes import _objects

from .helpers import mkdir, upload, usage

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _clean_storage():
    leftovers_clear()


def test_an_upload_into_another_users_folder_is_404_and_keeps_nothing(auth_client, other_client, user):
    theirs = mkdir(other_client, "Private")
    before, objects = usage(auth_client), _objects("blobs")
    body = upload(auth_client, "in.bin", os.urandom(200_000), folder=theirs["id"], expect=404)
    assert body["success"] is False and body["error"]["code"] == "NOT_FOUND"
    assert usage(auth_client) == before
    assert _objects("blobs") == objects
    assert other_client.get("/api/files/list", {"folderId": theirs["id"]}).json()["data"]["items"] == []
    assert_storage_invariants(users=[user])


def test_a_name_taken_under_on_conflict_error_is_409_and_keeps_nothing(auth_client, user):
    kept = upload(auth_client, "same.bin", b"first")
    before, objects = usage(auth_client), _objects("blobs")
    body = upload(auth_client, "same.bin", os.urandom(100_000), onConflict="error", expect=409)
    assert body["error"]["code"] == "NAME_CONFLICT"
    assert usage(auth_client) == before
    assert _objects("blobs") == objects
    assert_storage_invariants(files_ok=[(user, kept["id"], kept["sha256"])], users=[user])


def test_a_bulk_file_into_a_missing_batch_is_404_and_keeps_nothing(auth_client, user):
    from django.core.files.uploadedfile import SimpleUploadedFile

    before, objects = usage(auth_client), _objects("blobs")
    resp = auth_client.post("/api/bulk-upload/file", {
        "uploadId": "7d0c1a52-3f43-4a8e-9a5b-2b1f0e8f0c11", "relativePath": "a/b.bin",
        "file": SimpleUploadedFile("b.bin", os.urandom(50_000))}, format="multipart")
    assert resp.status_code == 404, resp.content
    assert usage(auth_client) == before
    assert _objects("blobs") == objects
    assert_storage_invariants(users=[user])


MiB = 1024 * 1024


@pytest.mark.parametrize("order, reads", [([1, 2, 3], 0), ([2, 1, 3], 1)], ids=["in-order", "out-of-order"])
def test_chunks_in_order_are_hashed_as_they_arrive_and_complete_reads_nothing_back(order, reads, auth_client, user,
                                                                                    settings, monkeypatch):
    """StreamVault chunks on S3: those that arrive in order are added to the whole-file
    SHA-256 as they are recorded, so `complete` does not read the file back; chunks out
    of order fall back to the verification read. Either way the file is the bytes sent."""
    if settings.STORAGE_BACKEND != "s3":
        pytest.skip("S3 multipart uploads need STORAGE_BACKEND=s3")
    from storage_site.core import storage

    from .helpers import download, sha
    from .test_chunks_streamvault import complete, init, send

    chunks = [os.urandom(5 * MiB), os.urandom(5 * MiB), os.urandom(10)]
    upload_id = init(auth_client, total=3)["upload_id"]
    for number in order:
        send(auth_client, upload_id, number, chunks[number - 1])
    original, read_back = storage.object_sha256, []

    def counted(key):
        read_back.append(key)
        return original(key)

    monkeypatch.setattr(storage, "object_sha256", counted)
    done = complete(auth_client, upload_id)
    assert len(read_back) == reads
    data = b"".join(chunks)
    [listed] = [item for item in auth_client.get("/api/search", {"q": "example"}).json()["data"]["items"]
                if item["name"] == "example.mp4"]
    assert done["file_id"] and listed["sha256"] == sha(data)
    assert download(auth_client, listed["id"]) == data
    assert_storage_invariants(files_ok=[(user, listed["id"], sha(data))], users=[user], rehash=-1)
