"""StreamVault chunk upload through HTTP: the upload engine's behaviour
as a client sees it, on the local and the S3 backend."""

import os

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from files.models import UploadSession, UploadStatus
from storage_site.core import storage

from .helpers import download, sha, usage

pytestmark = pytest.mark.django_db

MiB = 1024 * 1024


def init(client, name="example.mp4", total=3, expect=200, **extra):
    resp = client.post("/storage/api/v3/chunk_init/", {"file_name": name, "total_chunks": total, **extra},
                       format="json")
    assert resp.status_code == expect, resp.content
    return resp.json()


def send(client, upload_id, number, data, expect=200):
    resp = client.post("/storage/api/v3/chunk_upload/", {
        "upload_id": upload_id, "chunk_number": number,
        "file": SimpleUploadedFile("blob", data, content_type="application/octet-stream")}, format="multipart")
    assert resp.status_code == expect, resp.content
    return resp.json()


def complete(client, upload_id, expect=200, **extra):
    resp = client.post("/storage/api/v3/chunk_complete/", {"upload_id": upload_id, **extra}, format="json")
    assert resp.status_code == expect, resp.content
    return resp.json()


def status(client, upload_id):
    resp = client.get(f"/storage/api/v3/chunk_status/?upload_id={upload_id}")
    assert resp.status_code == 200, resp.content
    return resp.json()


def test_seed_flow_in_order(auth_client):
    chunks = [os.urandom(1000), os.urandom(1000), os.urandom(10)]
    started = init(auth_client, total=3)
    assert started["message"] == "Upload session initialized successfully"
    for number, chunk in enumerate(chunks, start=1):
        assert send(auth_client, started["upload_id"], number, chunk) == {
            "message": f"Chunk {number} uploaded successfully"}
    done = complete(auth_client, started["upload_id"])
    assert done["file_name"] == "example.mp4" and done["message"] == "File successfully assembled"
    assert isinstance(done["file_id"], int)
    node = UploadSession.objects.get(uuid=started["upload_id"]).node
    assert download(auth_client, str(node.uuid)) == b"".join(chunks)
    assert node.sha256 == sha(b"".join(chunks))


def test_out_of_order_and_repeated_chunks(auth_client):
    chunks = [os.urandom(2048) for _ in range(4)] + [b"end"]
    upload_id = init(auth_client, total=5)["upload_id"]
    for number in (5, 3, 1, 4, 2, 3):  # the last first, one twice with the same bytes
        send(auth_client, upload_id, number, chunks[number - 1])
    held = status(auth_client, upload_id)
    assert held["received_chunks"] == [1, 2, 3, 4, 5] and held["missing_chunks"] == []
    assert held["bytes_received"] == sum(map(len, chunks)) and held["chunk_size"] == 2048
    done = complete(auth_client, upload_id)
    file = UploadSession.objects.get(uuid=upload_id).node
    assert done["file_id"] == file.pk
    assert download(auth_client, str(file.uuid)) == b"".join(chunks)


def test_different_bytes_for_a_stored_chunk_is_a_conflict_that_says_where_to_resume(auth_client):
    upload_id = init(auth_client, total=3)["upload_id"]
    send(auth_client, upload_id, 1, b"a" * 100)
    answer = send(auth_client, upload_id, 1, b"b" * 100, expect=409)
    assert answer["code"] == "CHUNK_CONFLICT"
    assert answer["errors"]["receivedParts"] == [1] and answer["errors"]["nextPart"] == 2


def test_complete_with_missing_chunks_lists_them(auth_client):
    upload_id = init(auth_client, total=4)["upload_id"]
    send(auth_client, upload_id, 2, b"x" * 10)
    answer = complete(auth_client, upload_id, expect=400)
    assert answer["code"] == "MISSING_CHUNKS" and answer["errors"]["missingParts"] == [1, 3, 4]
    assert "1, 3-4" in answer["message"]


@pytest.mark.parametrize("number", [0, 4, -1])
def test_chunk_number_out_of_range(auth_client, number):
    upload_id = init(auth_client, total=3)["upload_id"]
    assert send(auth_client, upload_id, number, b"x", expect=400)["code"] == "CHUNK_OUT_OF_RANGE"


def test_unequal_chunks_are_refused(auth_client):
    upload_id = init(auth_client, total=3)["upload_id"]
    send(auth_client, upload_id, 1, b"x" * 100)
    assert send(auth_client, upload_id, 2, b"x" * 99, expect=400)["code"] == "CHUNK_SIZE_MISMATCH"
    assert send(auth_client, upload_id, 3, b"x" * 101, expect=400)["code"] == "CHUNK_SIZE_MISMATCH"


def test_retried_complete_returns_the_same_file_and_chunks_are_then_refused(auth_client):
    upload_id = init(auth_client, total=1)["upload_id"]
    send(auth_client, upload_id, 1, b"only chunk")
    first = complete(auth_client, upload_id)
    assert complete(auth_client, upload_id) == first
    assert send(auth_client, upload_id, 1, b"only chunk", expect=409)["code"] == "UPLOAD_COMPLETE"


def test_checksum_mismatch_fails_with_nothing_visible_and_quota_released(auth_client):
    before = usage(auth_client)
    upload_id = init(auth_client, total=2, checksum="sha256:" + "0" * 64)["upload_id"]
    send(auth_client, upload_id, 1, b"a" * 100)
    send(auth_client, upload_id, 2, b"b")
    answer = complete(auth_client, upload_id, expect=400)
    assert answer["code"] == "CHECKSUM_MISMATCH"
    assert auth_client.get("/api/files/list").json()["data"]["items"] == []
    assert usage(auth_client)["used"] == before["used"] and usage(auth_client)["reserved"] == 0
    session = UploadSession.objects.get(uuid=upload_id)
    assert session.status == UploadStatus.FAILED and not session.parts.exists()


def test_checksum_given_at_complete_is_verified(auth_client):
    data = [b"a" * 64, b"b" * 3]
    upload_id = init(auth_client, total=2)["upload_id"]
    for number, chunk in enumerate(data, start=1):
        send(auth_client, upload_id, number, chunk)
    done = complete(auth_client, upload_id, checksum=sha(b"".join(data)))
    assert done["file_name"] == "example.mp4"


def test_quota_is_held_per_chunk_and_exact_afterwards(auth_client, user):
    user.storage_quota = 1000
    user.save()
    upload_id = init(auth_client, total=3)["upload_id"]
    send(auth_client, upload_id, 1, b"x" * 400)
    assert usage(auth_client)["reserved"] == 400
    send(auth_client, upload_id, 2, b"x" * 400)
    answer = send(auth_client, upload_id, 3, b"x" * 300, expect=413)  # would pass the quota
    assert answer["code"] == "STORAGE_QUOTA_EXCEEDED"
    assert usage(auth_client)["reserved"] == 800
    send(auth_client, upload_id, 3, b"x" * 200)
    complete(auth_client, upload_id)
    stats = usage(auth_client)
    assert (stats["used"], stats["reserved"]) == (1000, 0)


def test_declared_size_holds_quota_at_start(auth_client, user):
    user.storage_quota = 1000
    user.save()
    assert init(auth_client, total=2, file_size=1200, expect=413)["code"] == "STORAGE_QUOTA_EXCEEDED"
    upload_id = init(auth_client, total=2, file_size=900)["upload_id"]
    assert usage(auth_client)["reserved"] == 900
    send(auth_client, upload_id, 1, b"x" * 500)
    assert send(auth_client, upload_id, 2, b"x" * 500, expect=400)["code"] in ("CHUNK_SIZE_MISMATCH",
                                                                             "UPLOAD_TOO_LONG")
    send(auth_client, upload_id, 2, b"x" * 400)
    complete(auth_client, upload_id)
    assert (usage(auth_client)["used"], usage(auth_client)["reserved"]) == (900, 0)


def test_another_users_upload_is_not_found(auth_client, other_client):
    upload_id = init(auth_client, total=2)["upload_id"]
    send(auth_client, upload_id, 1, b"mine" * 10)
    assert send(other_client, upload_id, 2, b"x", expect=404)["code"] == "UPLOAD_NOT_FOUND"
    assert complete(other_client, upload_id, expect=404)["code"] == "UPLOAD_NOT_FOUND"
    resp = other_client.get(f"/storage/api/v3/chunk_status/?upload_id={upload_id}")
    assert resp.status_code == 404
    assert status(auth_client, upload_id)["received_chunks"] == [1]


def test_unknown_and_malformed_ids(auth_client, api_client):
    assert send(auth_client, "not-a-uuid", 1, b"x", expect=404)["code"] == "UPLOAD_NOT_FOUND"
    assert complete(auth_client, "00000000-0000-0000-0000-000000000000", expect=404)["code"] == "UPLOAD_NOT_FOUND"
    assert api_client.post("/storage/api/v3/chunk_init/", {"file_name": "a", "total_chunks": 1},
                           format="json").status_code == 401


@pytest.mark.parametrize("body", [{"file_name": "a.mp4"}, {"file_name": "a.mp4", "total_chunks": 0},
                                  {"file_name": "a.mp4", "total_chunks": 10001},
                                  {"file_name": "../..", "total_chunks": 2},
                                  {"file_name": "a.mp4", "total_chunks": "x"}])
def test_bad_init(auth_client, body):
    resp = auth_client.post("/storage/api/v3/chunk_init/", body, format="json")
    assert resp.status_code == 400 and "message" in resp.json()


def test_expired_session_is_410_and_cleaned(auth_client, user, django_capture_on_commit_callbacks):
    from django.utils import timezone

    from files.tasks import uploads_expire_task

    upload_id = init(auth_client, total=2)["upload_id"]
    send(auth_client, upload_id, 1, b"x" * 100)
    key = UploadSession.objects.get(uuid=upload_id).parts.get().storage_key
    UploadSession.objects.filter(uuid=upload_id).update(expires_at=timezone.now())
    assert send(auth_client, upload_id, 2, b"x", expect=410)["code"] == "UPLOAD_EXPIRED"
    with django_capture_on_commit_callbacks(execute=True):
        assert uploads_expire_task.delay().get() == 1
    assert not storage.exists(key)
    assert usage(auth_client)["reserved"] == 0
    assert complete(auth_client, upload_id, expect=410)["code"] == "UPLOAD_EXPIRED"


def test_chunk_into_a_folder_by_token(auth_client, other_client):
    folder = auth_client.post("/storage/api/v3/folders/", {"name": "Music"}, format="json").json()
    assert init(other_client, total=1, folder_token=folder["token"], expect=404)["code"] == "NOT_FOUND"
    upload_id = init(auth_client, name="song.mp3", total=1, folder_token=folder["token"])["upload_id"]
    send(auth_client, upload_id, 1, b"ID3")
    complete(auth_client, upload_id)
    listed = auth_client.get(f"/storage/api/v3/folders/{folder['token']}/").json()
    assert [f["file_name"] for f in listed["files"]] == ["song.mp3"]


def test_same_name_keeps_both(auth_client):
    for _ in range(2):
        upload_id = init(auth_client, name="a.txt", total=1)["upload_id"]
        send(auth_client, upload_id, 1, b"hello")
        complete(auth_client, upload_id)
    names = sorted(item["name"] for item in auth_client.get("/api/files/list").json()["data"]["items"])
    assert names == ["a (1).txt", "a.txt"]


def test_large_chunks_go_through_multipart_on_s3(auth_client, settings):
    """Chunks of at least 5 MiB: with S3 they are parts of one multipart upload
    (no copy at assembly); locally they are concatenated. Same file either way."""
    chunks = [os.urandom(5 * MiB), os.urandom(5 * MiB), os.urandom(123)]
    upload_id = init(auth_client, name="big.bin", total=3)["upload_id"]
    for number in (2, 3, 1):
        send(auth_client, upload_id, number, chunks[number - 1])
    session = UploadSession.objects.get(uuid=upload_id)
    if storage.is_s3():
        assert session.multipart_id and [bool(p.etag) for p in session.parts.order_by("number")] == \
            [True, True, False]
    complete(auth_client, upload_id)
    node = UploadSession.objects.get(uuid=upload_id).node
    assert download(auth_client, str(node.uuid)) == b"".join(chunks)
    assert not any(storage.exists(p.storage_key) for p in session.parts.exclude(storage_key=""))


def test_big_upload_is_assembled_by_the_task_and_polled(auth_client, settings):
    settings.UPLOAD_ASSEMBLE_INLINE_MAX = 10  # force the worker path (eager here)
    upload_id = init(auth_client, total=2)["upload_id"]
    send(auth_client, upload_id, 1, b"a" * 100)
    send(auth_client, upload_id, 2, b"b" * 10)
    # The answer does not wait for the worker (here it runs when the request's transaction commits).
    pending = complete(auth_client, upload_id, expect=202)
    assert pending["status"] == "assembling" and pending["received_chunks"] == [1, 2]
    assert status(auth_client, upload_id)["status"] == "complete"
    done = complete(auth_client, upload_id)  # polling by retrying complete
    assert done["message"] == "File successfully assembled"


def _objects() -> set[str]:
    from django.core.files.storage import default_storage

    if not default_storage.exists("blobs"):
        return set()
    found = set()
    for prefix in default_storage.listdir("blobs")[0]:
        found |= {f"blobs/{prefix}/{name}" for name in default_storage.listdir(f"blobs/{prefix}")[1]}
    return found


def test_refused_chunks_leave_no_object_behind(auth_client, user):
    upload_id = init(auth_client, total=2)["upload_id"]
    send(auth_client, upload_id, 1, b"a" * 100)
    before = _objects()
    send(auth_client, upload_id, 3, b"x" * 100, expect=400)  # out of range
    send(auth_client, upload_id, 1, b"b" * 100, expect=409)  # conflict
    send(auth_client, upload_id, 1, b"a" * 100)  # the same again: the copy is dropped
    send(auth_client, upload_id, 2, b"x" * 101, expect=400)  # bigger than the chunk size
    type(user).objects.filter(pk=user.pk).update(storage_quota=150)  # not save(): it would reset usage
    send(auth_client, upload_id, 2, b"x" * 60, expect=413)  # over quota
    assert _objects() == before


@pytest.mark.parametrize("route", ["/storage/api/v3/chunk_upload/", "/api/files/upload", "/api/bulk-upload/file"])
def test_malformed_content_length_is_400_before_the_body_is_read(auth_client, route):
    resp = auth_client.generic("POST", route, b"x", content_type="multipart/form-data; boundary=b",
                               CONTENT_LENGTH="12abc")
    assert resp.status_code == 400 and "Content-Length" in resp.content.decode()


def test_a_chunk_costs_few_database_statements(auth_client, django_assert_max_num_queries):
    """Every chunk of a big upload is a request: the statements per chunk are most of the
    server's work beside the bytes. The part's quota hold goes with the bytes it hands
    to the session, so nothing is left to release afterwards."""
    from accounts.models import QuotaHold

    upload_id = init(auth_client, total=3)["upload_id"]
    send(auth_client, upload_id, 1, os.urandom(1000))
    with django_assert_max_num_queries(18):
        send(auth_client, upload_id, 2, os.urandom(1000))
    assert not QuotaHold.objects.exists()
    send(auth_client, upload_id, 3, os.urandom(10))
    assert status(auth_client, upload_id)["missing_chunks"] == []
