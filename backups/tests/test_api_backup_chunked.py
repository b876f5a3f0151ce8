"""Big files of a backup go through the chunked upload engine (source `backup`): the
backup answers where to send the chunks (the MegaVault chunk endpoint), and the
file's outcome is recorded when the engine finishes or fails."""

import hashlib

import pytest

from files.models import UploadSession, UploadSource
from files.tests.helpers import download, upload, usage

from .helpers import logs, phone, start

pytestmark = pytest.mark.django_db

CHUNK = 1024
VIDEO = bytes(range(256)) * 10  # 2,560 bytes: 3 chunks of 1 KiB


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def a(user, settings):
    settings.BACKUP_CHUNK_SIZE = CHUNK
    return phone(user, "phone-A")


def begin(client, sid, data=VIDEO, expect=202, **extra):
    resp = client.post("/api/backup/upload", {"sessionId": sid, "name": "VID_0001.mp4", "size": len(data),
                                              "checksum": f"sha256:{sha(data)}", "assetId": "vid-1",
                                              "mimeType": "video/mp4", **extra}, format="json")
    assert resp.status_code == expect, resp.content
    return resp.json()


def put_chunks(client, answer, data, indexes=None):
    for chunk in answer["chunks"]:
        if indexes is not None and chunk["index"] not in indexes:
            continue
        resp = client.put(chunk["uploadUrl"], data[chunk["start"]:chunk["end"] + 1],
                          content_type="application/octet-stream")
        assert resp.status_code == 200, resp.content


def test_big_file_goes_through_the_chunk_door(a, user):
    sid = start(a, a.device, expectedFiles=1, expectedBytes=len(VIDEO))["sessionId"]
    body = begin(a, sid)
    row, answer = body["data"]["file"], body["data"]["upload"]
    assert row["outcome"] == "pending" and answer["totalChunks"] == 3
    assert UploadSession.objects.get(uuid=answer["uploadId"]).source == UploadSource.BACKUP
    put_chunks(a, answer, VIDEO)
    done = a.post("/api/mobile/upload/complete", {"uploadId": answer["uploadId"]}, format="json")
    assert done.status_code == 200, done.content
    items = logs(a, sid)["items"]
    assert [(i["name"], i["outcome"]) for i in items] == [("VID_0001.mp4", "uploaded")]
    assert download(a, items[0]["fileId"]) == VIDEO
    summary = a.post("/api/backup/complete", {"sessionId": sid}, format="json").json()["data"]["summary"]
    assert summary["files"] == {"uploaded": 1, "alreadyPresent": 0, "failed": 0, "pending": 0}


def test_big_file_already_held_needs_no_chunks(a):
    upload(a, "movie.mp4", VIDEO)
    used = usage(a)["used"]
    sid = start(a, a.device)["sessionId"]
    body = begin(a, sid, expect=200)
    assert body["data"]["file"]["outcome"] == "already_present" and "upload" not in body["data"]
    assert not UploadSession.objects.filter(source=UploadSource.BACKUP).exists()
    assert usage(a)["used"] == used and usage(a)["reserved"] == 0


def test_big_file_with_wrong_content_fails_with_the_reason(a):
    sid = start(a, a.device)["sessionId"]
    answer = begin(a, sid)["data"]["upload"]
    tampered = VIDEO[:-1] + b"\x00"
    put_chunks(a, answer, tampered)
    resp = a.post("/api/mobile/upload/complete", {"uploadId": answer["uploadId"]}, format="json")
    assert resp.status_code == 400 and resp.json()["error"]["code"] == "CHECKSUM_MISMATCH"
    items = logs(a, sid)["items"]
    assert [(i["outcome"], i["reasonCode"]) for i in items] == [("failed", "CHECKSUM_MISMATCH")]
    assert usage(a)["reserved"] == 0


def test_completing_before_the_chunks_arrive_fails_the_file(a):
    sid = start(a, a.device)["sessionId"]
    answer = begin(a, sid)["data"]["upload"]
    put_chunks(a, answer, VIDEO, indexes=[0])
    summary = a.post("/api/backup/complete", {"sessionId": sid}, format="json").json()["data"]["summary"]
    assert summary["files"]["failed"] == 1 and summary["files"]["pending"] == 0
    assert logs(a, sid)["items"][0]["reasonCode"] == "NOT_FINISHED"
    assert UploadSession.objects.get(uuid=answer["uploadId"]).status == "failed"
    assert usage(a)["reserved"] == 0


def test_chunked_needs_size_and_checksum(a):
    sid = start(a, a.device)["sessionId"]
    resp = a.post("/api/backup/upload", {"sessionId": sid, "name": "x.mp4", "size": 10}, format="json")
    assert resp.status_code == 400 and resp.json()["error"]["code"] == "VALIDATION_ERROR"


def test_big_file_over_quota_is_recorded(a, user):
    from accounts.models import User

    User.objects.filter(pk=user.pk).update(storage_quota_override=100, storage_quota=100)
    sid = start(a, a.device)["sessionId"]
    body = begin(a, sid, expect=413)
    assert body["error"]["code"] == "STORAGE_QUOTA_EXCEEDED"
    assert [(i["outcome"], i["reasonCode"]) for i in logs(a, sid)["items"]] == [("failed", "STORAGE_QUOTA_EXCEEDED")]
