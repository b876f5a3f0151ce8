"""LayoodStorage bulk upload through HTTP: a folder tree in, progress while
it runs, a summary at the end; failures recorded, nothing half-stored, quota exact."""

import io
import os

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from files.models import Blob
from storage_site.core import storage

from .helpers import download, sha, usage
from .test_interrupted import _stored_objects

pytestmark = pytest.mark.django_db

BOUNDARY = "StratusBulkBoundary"


def start(client, expect=201, **body):
    resp = client.post("/api/bulk-upload/start", body, format="json")
    assert resp.status_code == expect, resp.content
    return resp.json()["data"] if expect == 201 else resp.json()


def send(client, upload_id, relative_path, data, expect=201):
    resp = client.post("/api/bulk-upload/file", {
        "uploadId": upload_id, "relativePath": relative_path,
        "file": SimpleUploadedFile("blob", data, content_type="application/octet-stream")}, format="multipart")
    assert resp.status_code == expect, resp.content
    return resp.json()["data"] if expect == 201 else resp.json()["error"]


def state(client, upload_id, expect=200):
    resp = client.get(f"/api/bulk-upload/{upload_id}")
    assert resp.status_code == expect, resp.content
    return resp.json()["data"] if expect == 200 else resp.json()["error"]


def complete(client, upload_id, expect=200):
    resp = client.post("/api/bulk-upload/complete", {"uploadId": upload_id}, format="json")
    assert resp.status_code == expect, resp.content
    return resp.json()["data"] if expect == 200 else resp.json()["error"]


def contents(client, folder_id="root") -> dict:
    resp = client.get(f"/api/folders/{folder_id}/contents")
    assert resp.status_code == 200, resp.content
    return {item["name"]: item for item in resp.json()["data"]["items"]}


def test_a_folder_tree_lands_as_folders_and_files(auth_client):
    files = {"Trip/readme.txt": b"hello", "Trip/2024/photo.jpg": os.urandom(3000),
             "Trip/2024/clip.bin": os.urandom(70_000), "Trip\\notes\\todo.md": b"- pack"}
    batch = start(auth_client, totalFiles=4, totalBytes=sum(map(len, files.values())))
    assert batch["status"] == "uploading" and batch["totalFiles"] == 4 and batch["expiresAt"]

    answers = [send(auth_client, batch["uploadId"], path, data) for path, data in files.items()]
    first = answers[0]
    assert first["name"] == "readme.txt" and first["type"] == "file" and first["size"] == 5
    assert first["sha256"] == sha(b"hello") and first["relativePath"] == "Trip/readme.txt"
    assert answers[-1]["progress"] == {"filesDone": 4, "filesFailed": 0, "bytesDone": 73_011, "totalFiles": 4,
                                       "totalBytes": 73_011, "percent": 100.0}

    trip = contents(auth_client)["Trip"]  # into home: no folderId was given
    assert trip["type"] == "folder" and trip["parentId"] == batch["folderId"]
    in_trip = contents(auth_client, trip["id"])
    assert set(in_trip) == {"2024", "notes", "readme.txt"}
    assert set(contents(auth_client, in_trip["2024"]["id"])) == {"photo.jpg", "clip.bin"}
    listed = auth_client.get(f"/api/files/list?folderId={in_trip['notes']['id']}").json()["data"]["items"]
    assert [item["name"] for item in listed] == ["todo.md"]
    for answer, data in zip(answers, files.values()):
        assert download(auth_client, answer["id"]) == data

    summary = complete(auth_client, batch["uploadId"])
    assert summary["status"] == "complete" and summary["failed"] == {"count": 0, "files": []}
    assert summary["created"]["count"] == 4
    assert summary["created"]["files"] == [{"relativePath": path, "fileId": answer["id"], "size": len(data)}
                                           for (path, data), answer in zip(files.items(), answers)]
    assert summary["bytes"] == 73_011 and summary["folders"] == 3  # Trip, 2024, notes
    assert summary["durationSeconds"] >= 0
    stats = usage(auth_client)
    assert (stats["used"], stats["reserved"]) == (73_011, 0)


def test_progress_while_it_runs(auth_client):
    batch = start(auth_client, totalBytes=4000)
    assert state(auth_client, batch["uploadId"])["progress"] == {
        "filesDone": 0, "filesFailed": 0, "bytesDone": 0, "totalFiles": None, "totalBytes": 4000, "percent": 0.0}
    send(auth_client, batch["uploadId"], "a.bin", b"a" * 1000)
    running = state(auth_client, batch["uploadId"])
    assert running["status"] == "uploading"
    assert running["progress"]["bytesDone"] == 1000 and running["progress"]["percent"] == 25.0

    by_files = start(auth_client, totalFiles=4)["uploadId"]
    send(auth_client, by_files, "one.txt", b"1")
    send(auth_client, by_files, "../two.txt", b"2", expect=400)
    assert state(auth_client, by_files)["progress"] == {
        "filesDone": 1, "filesFailed": 1, "bytesDone": 1, "totalFiles": 4, "totalBytes": None, "percent": 50.0}
    complete(auth_client, by_files)
    done = state(auth_client, by_files)
    assert done["status"] == "complete" and done["progress"]["percent"] == 100.0


def test_summary_lists_failures_and_quota_is_exact(auth_client, user):
    user.storage_quota = 100_000
    user.save(update_fields=["storage_quota"])
    before = _stored_objects()
    upload_id = start(auth_client)["uploadId"]
    ok = os.urandom(60_000)
    send(auth_client, upload_id, "Keep/ok.bin", ok)
    bad_paths = ["../escape.txt", "/etc/passwd", "C:\\Users\\me\\x.txt", "Keep//double.txt", "Keep/./dot.txt",
                 "Keep/", "Keep/bad\x07name.txt"]
    for path in bad_paths:
        assert send(auth_client, upload_id, path, b"x", expect=400)["code"] == "INVALID_PATH", path
    # A file as a folder on the way, a small file past the quota, a big one refused before it is read.
    assert send(auth_client, upload_id, "Keep/ok.bin/inner.txt", b"x", expect=409)["code"] == "NAME_CONFLICT"
    assert send(auth_client, upload_id, "Keep/small.bin", b"s" * 50_000,
                expect=413)["code"] == "STORAGE_QUOTA_EXCEEDED"
    assert send(auth_client, upload_id, "Keep/big.bin", b"b" * 200_000,
                expect=413)["code"] == "STORAGE_QUOTA_EXCEEDED"

    summary = complete(auth_client, upload_id)
    assert summary["created"]["count"] == 1 and summary["bytes"] == 60_000
    assert [f["relativePath"] for f in summary["created"]["files"]] == ["Keep/ok.bin"]
    failed = {f["relativePath"]: f["code"] for f in summary["failed"]["files"]}
    assert failed == {**{path: "INVALID_PATH" for path in bad_paths}, "Keep/ok.bin/inner.txt": "NAME_CONFLICT",
                      "Keep/small.bin": "STORAGE_QUOTA_EXCEEDED", "Keep/big.bin": "STORAGE_QUOTA_EXCEEDED"}
    assert summary["failed"]["count"] == len(failed)
    assert all(f["message"] for f in summary["failed"]["files"])
    stats = usage(auth_client)
    assert (stats["used"], stats["reserved"]) == (60_000, 0)
    assert Blob.objects.count() == 1
    assert len(set(_stored_objects()) - set(before)) == 1  # the one file; nothing refused was kept
    assert set(contents(auth_client, contents(auth_client)["Keep"]["id"])) == {"ok.bin"}


def test_total_bytes_beyond_the_quota_is_refused_at_start(auth_client, user):
    user.storage_quota = 1000
    user.save(update_fields=["storage_quota"])
    assert start(auth_client, expect=413, totalBytes=1001)["error"]["code"] == "STORAGE_QUOTA_EXCEEDED"
    start(auth_client, totalBytes=1000)
    assert usage(auth_client)["reserved"] == 0  # a batch holds nothing; its files do


def test_same_name_twice_keeps_both_under_rename(auth_client):
    upload_id = start(auth_client)["uploadId"]
    first = send(auth_client, upload_id, "Docs/report.txt", b"first")
    second = send(auth_client, upload_id, "Docs/report.txt", b"second")
    assert (first["name"], second["name"]) == ("report.txt", "report (1).txt")
    assert download(auth_client, first["id"]) == b"first" and download(auth_client, second["id"]) == b"second"
    summary = complete(auth_client, upload_id)
    assert [f["relativePath"] for f in summary["created"]["files"]] == ["Docs/report.txt"] * 2
    assert summary["folders"] == 1


def test_conflict_policy_error_and_version(auth_client):
    errors = start(auth_client, onConflict="error")["uploadId"]
    send(auth_client, errors, "same.txt", b"one")
    assert send(auth_client, errors, "same.txt", b"two", expect=409)["code"] == "NAME_CONFLICT"
    assert complete(auth_client, errors)["failed"]["files"][0]["relativePath"] == "same.txt"

    versions = start(auth_client, onConflict="version")["uploadId"]
    again = send(auth_client, versions, "same.txt", b"three")
    assert again["name"] == "same.txt" and again["version"] == 2
    assert download(auth_client, again["id"]) == b"three"


def test_another_users_batch_and_folder_are_not_found(auth_client, other_client, api_client):
    folder = auth_client.post("/api/folders/create", {"name": "Mine"}, format="json").json()["data"]
    upload_id = start(auth_client, folderId=folder["id"])["uploadId"]
    send(auth_client, upload_id, "kept.txt", b"mine")
    before = _stored_objects()

    assert start(other_client, expect=404, folderId=folder["id"])["error"]["code"] == "NOT_FOUND"
    assert send(other_client, upload_id, "intruder.txt", b"x" * 5000, expect=404)["code"] == "UPLOAD_NOT_FOUND"
    assert state(other_client, upload_id, expect=404)["code"] == "UPLOAD_NOT_FOUND"
    assert complete(other_client, upload_id, expect=404)["code"] == "UPLOAD_NOT_FOUND"
    assert _stored_objects() == before and usage(other_client)["reserved"] == 0
    assert state(auth_client, upload_id)["progress"]["filesDone"] == 1
    assert set(contents(auth_client, folder["id"])) == {"kept.txt"}

    for method, url in [("post", "/api/bulk-upload/start"), ("post", "/api/bulk-upload/file"),
                        ("get", f"/api/bulk-upload/{upload_id}"), ("post", "/api/bulk-upload/complete")]:
        resp = getattr(api_client, method)(url)
        assert resp.status_code == 401 and resp.json()["error"]["code"] == "NO_TOKEN"


def test_unknown_and_malformed_ids(auth_client):
    assert state(auth_client, "not-a-uuid", expect=404)["code"] == "UPLOAD_NOT_FOUND"
    assert complete(auth_client, "00000000-0000-0000-0000-000000000000", expect=404)["code"] == "UPLOAD_NOT_FOUND"
    assert send(auth_client, "nope", "a.txt", b"x", expect=404)["code"] == "UPLOAD_NOT_FOUND"


def test_completing_closes_the_batch_and_answers_the_same_summary(auth_client):
    upload_id = start(auth_client)["uploadId"]
    send(auth_client, upload_id, "a.txt", b"a")
    send(auth_client, upload_id, "..", b"b", expect=400)
    summary = complete(auth_client, upload_id)
    before = _stored_objects()
    assert send(auth_client, upload_id, "late.txt", b"late" * 5000, expect=409)["code"] == "UPLOAD_COMPLETE"
    assert complete(auth_client, upload_id) == summary
    assert _stored_objects() == before
    assert "late.txt" not in contents(auth_client)
    assert usage(auth_client)["reserved"] == 0


def test_complete_ends_a_file_a_crashed_request_left_half_way(auth_client, user):
    """A request that died between storing a file's part and making it a file leaves an
    open session holding quota; completing the batch ends it and releases the quota."""
    from files.models import UploadBatch, UploadSource
    from files import uploads as engine
    from folders.services import home_get

    upload_id = start(auth_client)["uploadId"]
    session = engine.session_start(user=user, folder=home_get(user=user), name="lost.txt", local_id="lost.txt",
                                   source=UploadSource.BULK, batch=UploadBatch.objects.get(uuid=upload_id),
                                   total_parts=1)
    engine.part_accept(session=session, number=1, received=engine.ReceivedPart(
        size=4, sha256=sha(b"lost"), spooled=io.BytesIO(b"lost")))
    key = session.parts.get().storage_key
    assert usage(auth_client)["reserved"] == 4 and storage.exists(key)
    summary = complete(auth_client, upload_id)
    assert summary["failed"]["files"] == [{"relativePath": "lost.txt", "code": "UPLOAD_INTERRUPTED",
                                           "message": "The upload ended before this file was stored."}]
    assert usage(auth_client)["reserved"] == 0 and not storage.exists(key)
    assert "lost.txt" not in contents(auth_client)


def test_expired_batch_takes_no_more_files(auth_client, settings):
    settings.UPLOAD_SESSION_TTL_DAYS = 0
    upload_id = start(auth_client)["uploadId"]
    assert state(auth_client, upload_id)["status"] == "expired"
    assert send(auth_client, upload_id, "a.txt", b"a", expect=410)["code"] == "UPLOAD_EXPIRED"


def test_a_file_past_the_inline_limit_is_still_made_in_the_request(auth_client, settings):
    """One stored part is adopted as the file without reading it, so no worker is needed."""
    settings.UPLOAD_ASSEMBLE_INLINE_MAX = 1024
    before = _stored_objects()
    data = os.urandom(9 * 1024 * 1024)  # with S3, streamed as a multipart upload
    upload_id = start(auth_client)["uploadId"]
    answer = send(auth_client, upload_id, "Videos/big.bin", data)
    assert answer["size"] == len(data) and answer["sha256"] == sha(data)
    assert download(auth_client, answer["id"]) == data
    assert len(set(_stored_objects()) - set(before)) == 1  # no copy left behind


def _multipart(fields: dict, payload: bytes) -> bytes:
    body = b"".join(f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n".encode()
                    for name, value in fields.items())
    body += (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"t.bin\"\r\n"
             "Content-Type: application/octet-stream\r\n\r\n").encode()
    return body + payload + f"\r\n--{BOUNDARY}--\r\n".encode()


# The body ends early: a stream that runs dry (one PUT, and an S3 multipart upload), and a
# client that vanishes (the test client's payload raises when read past its end).
@pytest.mark.parametrize("size,vanish", [(1000, False), (9 * 1024 * 1024, False), (50_000, True)])
def test_a_body_cut_short_stores_nothing(auth_client, size, vanish):
    upload_id = start(auth_client)["uploadId"]
    before = _stored_objects()
    body = _multipart({"uploadId": upload_id, "relativePath": "Cut/t.bin"}, b"A" * size)
    cut = body[:len(body) - size // 2]
    extra = {} if vanish else {"wsgi.input": io.BytesIO(cut)}
    resp = auth_client.generic("POST", "/api/bulk-upload/file", cut if vanish else b"",
                               content_type=f"multipart/form-data; boundary={BOUNDARY}",
                               CONTENT_LENGTH=str(len(body)), **extra)
    assert resp.status_code == 400 and resp.json()["success"] is False
    if vanish:
        assert resp.json()["error"]["code"] == "INCOMPLETE_UPLOAD"
    assert _stored_objects() == before and Blob.objects.count() == 0
    stats = usage(auth_client)
    assert (stats["used"], stats["reserved"]) == (0, 0)
    assert "Cut" not in contents(auth_client)
    assert state(auth_client, upload_id)["progress"]["filesDone"] == 0
