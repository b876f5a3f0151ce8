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


def _form(fields_before: dict, data: bytes, fields_after: dict) -> tuple[bytes, str]:
    """A multipart body with its fields in a chosen order around the `file` part."""
    boundary = "pipeline-boundary"
    field = lambda name, value: (f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
                                 f"{value}\r\n").encode()
    body = b"".join(field(name, value) for name, value in fields_before.items())
    body += (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="in.bin"\r\n'
             "Content-Type: application/octet-stream\r\n\r\n").encode() + data + b"\r\n"
    body += b"".join(field(name, value) for name, value in fields_after.items())
    return body + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


@pytest.mark.parametrize("where", ["query", "before", "after"])
def test_the_primary_upload_checks_folder_id_before_storing_a_byte_when_it_comes_first(
        where, auth_client, other_client, user, monkeypatch):
    """`folderId` in the query or before the file part: another user's folder is refused
    before a writer is opened. After the file part it can only be checked once the body
    is read: the bytes stored meanwhile are dropped. Either way 404, nothing kept."""
    from storage_site.core import storage

    theirs = mkdir(other_client, "Private")
    opened, open_writer = [], storage.open_writer
    monkeypatch.setattr(storage, "open_writer", lambda key, **kw: opened.append(key) or open_writer(key, **kw))
    before, objects = usage(auth_client), _objects("blobs")
    fields = {"folderId": theirs["id"]}
    body, content_type = _form(fields if where == "before" else {}, os.urandom(200_000),
                               fields if where == "after" else {})
    query = f"?folderId={theirs['id']}" if where == "query" else ""
    resp = auth_client.generic("POST", f"/api/files/upload{query}", body, content_type=content_type)
    assert resp.status_code == 404, resp.content
    assert resp.json()["error"]["code"] == "NOT_FOUND"
    assert len(opened) == (1 if where == "after" else 0)
    assert usage(auth_client) == before and _objects("blobs") == objects
    assert other_client.get("/api/files/list", {"folderId": theirs["id"]}).json()["data"]["items"] == []
    assert_storage_invariants(users=[user])


def test_the_primary_upload_takes_folder_id_from_the_query(auth_client):
    mine = mkdir(auth_client, "Mine")
    body, content_type = _form({}, b"hello", {})
    resp = auth_client.generic("POST", f"/api/files/upload?folderId={mine['id']}", body, content_type=content_type)
    assert resp.status_code == 201, resp.content
    listed = auth_client.get("/api/files/list", {"folderId": mine["id"]}).json()["data"]["items"]
    assert [item["name"] for item in listed] == ["in.bin"]


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


def _bytes_read_back(monkeypatch):
    """Counts the bytes the upload pipeline reads back from storage to assemble and
    verify a file (not what other readers, such as previews, read of it)."""
    from files.uploads import assembly
    from storage_site.core import storage

    counted = []

    class Counting:
        def __getattr__(self, name):
            return getattr(storage, name)

        def read_range(self, key, start=0, end=None):
            for data in storage.read_range(key, start, end):
                counted.append(len(data))
                yield data

        def object_sha256(self, key, *, start=0, running=None):
            size, sha256 = storage.object_sha256(key, start=start, running=running)
            counted.append(size - start)
            return size, sha256

    monkeypatch.setattr(assembly, "storage", Counting())
    return counted


@pytest.mark.parametrize("order, lose_kept, read", [
    ([1, 2, 3], False, 0), ([2, 1, 3], False, 0), ([3, 2, 1], False, 0), ([1, 3, 2], False, 0),
    ([2, 1, 3], True, 5 * MiB + 10)], ids=["in-order", "2-1-3", "3-2-1", "1-3-2", "kept-part-lost"])
def test_chunks_are_hashed_as_the_gaps_fill_and_complete_reads_back_only_what_is_not_covered(
        order, lose_kept, read, auth_client, user, settings, monkeypatch):
    """StreamVault chunks on S3 (several in flight): a chunk that arrives before the one
    before it is kept until the gap fills, then hashed, so `complete` reads nothing back.
    A kept chunk that is gone (kept on another machine, swept) makes `complete` read from
    where the hash stopped, not the whole file. Either way the file is the bytes sent."""
    if settings.STORAGE_BACKEND != "s3":
        pytest.skip("S3 multipart uploads need STORAGE_BACKEND=s3")
    import shutil
    from pathlib import Path

    from .helpers import download, sha
    from .test_chunks_streamvault import complete, init, send

    chunks = [os.urandom(5 * MiB), os.urandom(5 * MiB), os.urandom(10)]
    upload_id = init(auth_client, total=3)["upload_id"]
    for number in order:
        if lose_kept and number == 1:
            shutil.rmtree(Path(settings.FILE_UPLOAD_TEMP_DIR) / "kept-parts", ignore_errors=True)
        send(auth_client, upload_id, number, chunks[number - 1])
    read_back = _bytes_read_back(monkeypatch)
    done = complete(auth_client, upload_id)
    assert sum(read_back) == read
    monkeypatch.undo()
    data = b"".join(chunks)
    [listed] = [item for item in auth_client.get("/api/search", {"q": "example"}).json()["data"]["items"]
                if item["name"] == "example.mp4"]
    assert done["file_id"] and listed["sha256"] == sha(data)
    assert download(auth_client, listed["id"]) == data
    assert_storage_invariants(files_ok=[(user, listed["id"], sha(data))], users=[user], rehash=-1)
    assert not list((Path(settings.FILE_UPLOAD_TEMP_DIR) / "kept-parts").glob(f"{upload_id}/*"))  # none left


def test_tus_bodies_are_hashed_as_they_stream_and_completion_reads_nothing_back(auth_client, user, settings,
                                                                               monkeypatch):
    """tus PATCHes arrive in order: each body continues the whole-file SHA-256 while it
    streams, so the last PATCH completes the file without reading any of it back."""
    if settings.STORAGE_BACKEND != "s3":
        pytest.skip("S3 joins parts without reading them only with STORAGE_BACKEND=s3")
    from .helpers import download, sha
    from .test_tus import create, file_named, patch

    data = os.urandom(11 * MiB + 3)
    url = create(auth_client, len(data), metadata={"filename": "tus.bin"})
    patch(auth_client, url, data[:5 * MiB], 0)
    patch(auth_client, url, data[5 * MiB:10 * MiB], 5 * MiB)
    read_back = _bytes_read_back(monkeypatch)
    patch(auth_client, url, data[10 * MiB:], 10 * MiB)
    assert sum(read_back) == 0
    monkeypatch.undo()
    listed = file_named(auth_client, "tus.bin")
    assert listed["sha256"] == sha(data) and download(auth_client, listed["id"]) == data
    assert_storage_invariants(files_ok=[(user, listed["id"], sha(data))], users=[user], rehash=-1)


def test_a_small_upload_is_charged_at_its_commit_exactly_and_one_that_no_longer_fits_keeps_nothing(user):
    """A small body takes its quota in the commit's own transaction, not under a hold:
    the user row as the request read it lets it in, the commit is what decides."""
    from io import BytesIO

    from accounts.models import QuotaHold, User
    from files.uploads import file_upload
    from folders import services as tree
    from folders.models import Node
    from storage_site.core.exceptions import QuotaExceeded

    home = tree.home_get(user=user)
    User.objects.filter(pk=user.pk).update(storage_quota=1000)
    as_read = User.objects.get(pk=user.pk)  # what a second request read before the first committed
    file_upload(user=User.objects.get(pk=user.pk), folder=home, name="first.bin", stream=BytesIO(b"a" * 600),
                size=600)
    objects = _objects("blobs")
    with pytest.raises(QuotaExceeded):
        file_upload(user=as_read, folder=home, name="second.bin", stream=BytesIO(b"b" * 600), size=600)
    fresh = User.objects.get(pk=user.pk)
    assert (fresh.storage_used, fresh.storage_reserved) == (600, 0)
    assert not QuotaHold.objects.exists()
    assert _objects("blobs") == objects
    assert not Node.objects.filter(name="second.bin").exists()
    file_upload(user=fresh, folder=home, name="third.bin", stream=BytesIO(b"c" * 400), size=400)  # exactly full
    assert User.objects.get(pk=user.pk).storage_used == 1000
    assert_storage_invariants(users=[user])
