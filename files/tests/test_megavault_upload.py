"""MegaVault background upload through HTTP, as a phone would use it:
init → chunks → progress → complete, on the local and the S3 backend."""

import os

import pytest
import requests
from django.core.files.uploadedfile import SimpleUploadedFile

from storage_site.core import storage

from .helpers import download, mkdir, sha, upload, usage

pytestmark = pytest.mark.django_db

KiB, MiB = 1024, 1024 * 1024


def init(client, files, expect=200, **options):
    body = {"files": files}
    if options:
        body["uploadOptions"] = options
    resp = client.post("/api/mobile/upload/init", body, format="json")
    assert resp.status_code == expect, resp.content
    return resp.json()["data"] if expect == 200 else resp.json()


def one(local_id="local_123", name="video.mp4", size=100, **extra):
    return {"localId": local_id, "name": name, "size": size, "mimeType": "video/mp4", **extra}


def put(client, url, data, expect=200, **extra):
    resp = client.put(url, data, content_type="application/octet-stream", **extra)
    assert resp.status_code == expect, resp.content
    return resp.json()


def put_chunk(client, upload_id, index, data, expect=200):
    return put(client, f"/api/mobile/upload/chunk?uploadId={upload_id}&index={index}", data, expect)


def post_chunk(client, upload_id, index, data, expect=200):
    resp = client.post("/api/mobile/upload/chunk", {
        "uploadId": upload_id, "index": index,
        "file": SimpleUploadedFile("blob", data, content_type="application/octet-stream")}, format="multipart")
    assert resp.status_code == expect, resp.content
    return resp.json()


def progress(client, upload_id, expect=200, **claims):
    resp = client.post("/api/mobile/upload/progress", {"uploadId": upload_id, **claims}, format="json")
    assert resp.status_code == expect, resp.content
    return resp.json()["data"] if expect == 200 else resp.json()


def complete(client, upload_id, expect=200, **extra):
    resp = client.post("/api/mobile/upload/complete", {"uploadId": upload_id, **extra}, format="json")
    assert resp.status_code == expect, resp.content
    return resp.json()["data"] if expect in (200, 202) else resp.json()


def pieces(data: bytes, size: int) -> list[bytes]:
    return [data[i:i + size] for i in range(0, len(data), size)] or [b""]


def test_seed_flow_end_to_end(auth_client):
    data = os.urandom(2 * MiB + 1000)
    started = init(auth_client, [one(size=len(data), folder="/videos", checksum="sha256:" + sha(data),
                                     priority="high")], wifiOnly=True, chunkSize=MiB, maxRetries=3)
    # MegaVault's shape, key for key (plus `direct` and `method`, so a client knows how to send).
    assert set(started) == {"uploadSession", "files", "expiresAt"}
    [file] = started["files"]
    assert set(file) == {"localId", "uploadId", "uploadUrl", "chunks", "totalChunks", "direct", "method"}
    assert file["localId"] == "local_123" and file["totalChunks"] == 3
    assert file["uploadUrl"] == "http://testserver/api/mobile/upload/chunk"
    assert file["direct"] is False and file["method"] == "PUT"
    assert [(c["index"], c["start"], c["end"]) for c in file["chunks"]] == [
        (0, 0, MiB - 1), (1, MiB, 2 * MiB - 1), (2, 2 * MiB, len(data) - 1)]
    assert all(set(c) == {"index", "start", "end", "uploadUrl"} for c in file["chunks"])
    assert file["chunks"][2]["uploadUrl"] == f"{file['uploadUrl']}?uploadId={file['uploadId']}&index=2"

    for chunk in (file["chunks"][2], file["chunks"][0], file["chunks"][1]):  # any order
        answer = put(auth_client, chunk["uploadUrl"], data[chunk["start"]:chunk["end"] + 1])
        assert answer["success"] is True
        assert set(answer["data"]) == {"uploadId", "index", "received", "bytesReceived", "completedChunks"}
        assert answer["data"]["index"] == chunk["index"] and answer["data"]["received"] is True
    assert answer["data"]["completedChunks"] == [0, 1, 2] and answer["data"]["bytesReceived"] == len(data)

    held = progress(auth_client, file["uploadId"], completedChunks=[0, 1, 2], bytesUploaded=len(data),
                    status="uploading")
    assert held["completedChunks"] == [0, 1, 2] and held["missingChunks"] == []
    assert held["unconfirmedChunks"] == [] and held["bytesUploaded"] == len(data)
    assert held["status"] == "uploading" and held["totalChunks"] == 3

    done = complete(auth_client, file["uploadId"], checksum="sha256:" + sha(data),
                    metadata={"location": "37.7749,-122.4194", "capturedAt": "2024-01-20T14:30:00Z"})
    assert done["status"] == "complete" and done["uploadId"] == file["uploadId"]
    made = done["file"]
    assert made["name"] == "video.mp4" and made["size"] == len(data) and made["mimeType"] == "video/mp4"
    assert made["sha256"] == sha(data)
    assert download(auth_client, made["id"]) == data
    info = auth_client.get(f"/api/files/{made['id']}/info").json()["data"]
    assert info["metadata"] == {"location": "37.7749,-122.4194", "capturedAt": "2024-01-20T14:30:00Z"}
    assert [crumb["name"] for crumb in info["path"]] == ["Home", "videos"]
    assert complete(auth_client, file["uploadId"]) == done  # a retried complete: the same file

    batch = auth_client.get(f"/api/mobile/upload/session/{started['uploadSession']}").json()["data"]
    assert batch["status"] == "complete" and batch["bytesUploaded"] == len(data)
    assert batch["files"] == [{"localId": "local_123", "uploadId": file["uploadId"], "name": "video.mp4",
                               "size": len(data), "priority": "high", "status": "complete",
                               "bytesUploaded": len(data), "totalChunks": 3, "fileId": made["id"]}]
    assert (usage(auth_client)["used"], usage(auth_client)["reserved"]) == (len(data), 0)


def test_several_files_share_one_session_and_quota_is_held_at_start(auth_client):
    started = init(auth_client, [one("a", "a.jpg", 300 * KiB), one("b", "b.jpg", 0, folder="/photos/2024")],
                   chunkSize=256 * KiB)
    assert usage(auth_client)["reserved"] == 300 * KiB
    a, b = started["files"]
    assert (a["localId"], a["totalChunks"], b["localId"], b["totalChunks"]) == ("a", 2, "b", 1)
    assert [(c["start"], c["end"]) for c in b["chunks"]] == [(0, -1)]  # an empty file is one empty chunk
    put(auth_client, b["chunks"][0]["uploadUrl"], b"")
    empty = complete(auth_client, b["uploadId"])["file"]
    assert empty["size"] == 0
    batch = auth_client.get(f"/api/mobile/upload/session/{started['uploadSession']}").json()["data"]
    assert batch["status"] == "uploading"
    assert [(f["localId"], f["status"]) for f in batch["files"]] == [("a", "uploading"), ("b", "complete")]


def test_chunk_as_multipart_form(auth_client):
    data = os.urandom(300 * KiB)
    file = init(auth_client, [one(size=len(data))], chunkSize=256 * KiB)["files"][0]
    answer = post_chunk(auth_client, file["uploadId"], 1, data[256 * KiB:])
    assert answer["data"]["completedChunks"] == [1]
    assert post_chunk(auth_client, file["uploadId"], 0, data[:100], expect=400)["error"]["code"] == \
        "CHUNK_SIZE_MISMATCH"
    post_chunk(auth_client, file["uploadId"], 0, data[:256 * KiB])
    made = complete(auth_client, file["uploadId"])["file"]
    assert download(auth_client, made["id"]) == data


def test_resent_chunk_is_accepted_and_different_bytes_say_where_to_resume(auth_client):
    data = os.urandom(600 * KiB)
    file = init(auth_client, [one(size=len(data))], chunkSize=256 * KiB)["files"][0]
    first = put_chunk(auth_client, file["uploadId"], 0, data[:256 * KiB])
    again = put_chunk(auth_client, file["uploadId"], 0, data[:256 * KiB])
    assert again == first
    answer = put_chunk(auth_client, file["uploadId"], 0, os.urandom(256 * KiB), expect=409)
    assert answer["success"] is False and answer["error"]["code"] == "CHUNK_CONFLICT"
    assert answer["error"]["message"].startswith("Chunk 0 ")
    assert answer["error"]["details"] == {"completedChunks": [0], "missingChunks": [1, 2], "nextChunk": 1,
                                          "bytesUploaded": 256 * KiB}
    assert progress(auth_client, file["uploadId"])["bytesUploaded"] == 256 * KiB


@pytest.mark.parametrize("index, size", [(0, 100), (0, 256 * KiB + 1), (2, 256 * KiB)])
def test_wrong_chunk_size_is_400(auth_client, index, size):
    file = init(auth_client, [one(size=600 * KiB)], chunkSize=256 * KiB)["files"][0]
    answer = put_chunk(auth_client, file["uploadId"], index, b"x" * size, expect=400)
    assert answer["error"]["code"] == "CHUNK_SIZE_MISMATCH"
    assert progress(auth_client, file["uploadId"])["completedChunks"] == []


@pytest.mark.parametrize("index", [-1, 3, 99])
def test_index_out_of_range_is_400(auth_client, index):
    file = init(auth_client, [one(size=600 * KiB)], chunkSize=256 * KiB)["files"][0]
    answer = put_chunk(auth_client, file["uploadId"], index, b"x" * 10, expect=400)
    assert answer["error"]["code"] == "CHUNK_OUT_OF_RANGE"
    assert post_chunk(auth_client, file["uploadId"], index, b"x" * 10, expect=400)["error"]["code"] == \
        "CHUNK_OUT_OF_RANGE"


def test_chunk_without_length_is_411(auth_client):
    file = init(auth_client, [one(size=10)], chunkSize=256 * KiB)["files"][0]
    answer = put(auth_client, f"/api/mobile/upload/chunk?uploadId={file['uploadId']}&index=0", b"x" * 10,
                 expect=411, CONTENT_LENGTH="", HTTP_TRANSFER_ENCODING="chunked")
    assert answer["error"]["code"] == "LENGTH_REQUIRED"
    # No length at all is an empty body: the wrong size for this chunk.
    answer = put(auth_client, f"/api/mobile/upload/chunk?uploadId={file['uploadId']}&index=0", b"x" * 10,
                 expect=400, CONTENT_LENGTH="")
    assert answer["error"]["code"] == "CHUNK_SIZE_MISMATCH"


def test_complete_with_missing_chunks_lists_them(auth_client):
    file = init(auth_client, [one(size=1200 * KiB)], chunkSize=256 * KiB)["files"][0]
    put_chunk(auth_client, file["uploadId"], 1, b"x" * 256 * KiB)
    answer = complete(auth_client, file["uploadId"], expect=400)
    assert answer["error"]["code"] == "MISSING_CHUNKS"
    assert answer["error"]["details"]["missingChunks"] == [0, 2, 3, 4]
    assert answer["error"]["details"]["completedChunks"] == [1]
    assert answer["error"]["message"] == "Chunks missing: 0, 2-4."


def test_checksum_mismatch_is_400_with_nothing_visible_and_quota_back(auth_client):
    data = os.urandom(300 * KiB)
    file = init(auth_client, [one(size=len(data))], chunkSize=256 * KiB)["files"][0]
    assert usage(auth_client)["reserved"] == len(data)
    put_chunk(auth_client, file["uploadId"], 0, data[:256 * KiB])
    put_chunk(auth_client, file["uploadId"], 1, data[256 * KiB:])
    answer = complete(auth_client, file["uploadId"], checksum="sha256:" + sha(b"something else"), expect=400)
    assert answer["error"]["code"] == "CHECKSUM_MISMATCH"
    assert auth_client.get("/api/files/list").json()["data"]["items"] == []
    assert (usage(auth_client)["used"], usage(auth_client)["reserved"]) == (0, 0)
    held = progress(auth_client, file["uploadId"])
    assert held["status"] == "failed" and held["error"]["code"] == "CHECKSUM_MISMATCH"
    assert "chunks" not in held
    assert put_chunk(auth_client, file["uploadId"], 0, data[:256 * KiB], expect=409)["error"]["code"] == \
        "CHECKSUM_MISMATCH"


def test_batch_over_quota_is_413_and_nothing_is_reserved(auth_client, user):
    user.storage_quota = MiB
    user.save()
    answer = init(auth_client, [one("a", "a.mp4", 600 * KiB, folder="/videos"),
                                one("b", "b.mp4", 600 * KiB, folder="/videos")], expect=413)
    assert answer["success"] is False and answer["error"]["code"] == "STORAGE_QUOTA_EXCEEDED"
    assert (usage(auth_client)["used"], usage(auth_client)["reserved"]) == (0, 0)
    assert auth_client.get("/api/folders/list").json()["data"]["children"] == []  # not even the folder
    init(auth_client, [one("a", "a.mp4", 600 * KiB)])
    assert usage(auth_client)["reserved"] == 600 * KiB


def test_a_file_that_cannot_start_ends_the_whole_batch(auth_client):
    upload(auth_client, "taken.txt", b"x")
    # The second file's folder is a file: the first file's session, already open, is ended too.
    answer = init(auth_client, [one("a", "a.mp4", 600 * KiB), one("b", "b.mp4", 10, folder="/taken.txt")],
                  expect=409)
    assert answer["error"]["code"] == "NAME_CONFLICT" and answer["error"]["details"] == {"localId": "b"}
    assert (usage(auth_client)["used"], usage(auth_client)["reserved"]) == (1, 0)


@pytest.mark.parametrize("files, options", [
    ([], {}),
    ([one("a"), one("a", "other.mp4")], {}),
    ([one(size=-1)], {}),
    ([one(name="../..")], {}),
    ([one(name="a/b.mp4")], {}),
    ([one(folder="/videos/..")], {}),
    ([one(checksum="sha256:video_hash...")], {}),
    ([one(priority="urgent")], {}),
    ([one()], {"chunkSize": 256 * KiB - 1}),
    ([one()], {"chunkSize": 512 * MiB + 1}),
    ([one(f"f{i}", f"f{i}.jpg", 1) for i in range(501)], {}),
    ([one(size=10_001 * 256 * KiB)], {"chunkSize": 256 * KiB}),
])
def test_bad_init_is_400_and_starts_nothing(auth_client, files, options):
    answer = init(auth_client, files, expect=400, **options)
    assert answer["success"] is False and answer["error"]["code"]
    assert usage(auth_client)["reserved"] == 0


def test_progress_reports_the_servers_truth_when_the_client_lies(auth_client):
    data = os.urandom(600 * KiB)
    file = init(auth_client, [one(size=len(data))], chunkSize=256 * KiB)["files"][0]
    put_chunk(auth_client, file["uploadId"], 0, data[:256 * KiB])
    held = progress(auth_client, file["uploadId"], completedChunks=[0, 1, 2], bytesUploaded=len(data),
                    status="completed")
    assert held["completedChunks"] == [0] and held["missingChunks"] == [1, 2]
    assert held["unconfirmedChunks"] == [1, 2]
    assert held["bytesUploaded"] == 256 * KiB and held["status"] == "uploading"
    assert [c["index"] for c in held["chunks"]] == [1, 2]  # where to send what is missing
    assert held["chunks"][1] == file["chunks"][2]
    status = auth_client.get(f"/api/mobile/upload/{file['uploadId']}").json()["data"]
    assert "unconfirmedChunks" not in status
    assert {k: v for k, v in held.items() if k != "unconfirmedChunks"} == status


def test_assembly_by_a_worker_answers_202_then_the_file(auth_client, settings):
    settings.UPLOAD_ASSEMBLE_INLINE_MAX = 1000
    data = os.urandom(300 * KiB)
    file = init(auth_client, [one(size=len(data))], chunkSize=256 * KiB)["files"][0]
    put_chunk(auth_client, file["uploadId"], 0, data[:256 * KiB])
    put_chunk(auth_client, file["uploadId"], 1, data[256 * KiB:])
    resp = auth_client.post("/api/mobile/upload/complete", {"uploadId": file["uploadId"]}, format="json")
    assert resp.status_code == 202 and resp.json()["data"]["status"] == "assembling"
    done = complete(auth_client, file["uploadId"])  # the (eager) worker ran after the answer
    assert done["status"] == "complete" and download(auth_client, done["file"]["id"]) == data


def test_expired_upload_says_so(auth_client):
    from django.utils import timezone

    from files.models import UploadSession

    file = init(auth_client, [one(size=10)], chunkSize=256 * KiB)["files"][0]
    UploadSession.objects.filter(uuid=file["uploadId"]).update(expires_at=timezone.now())
    assert progress(auth_client, file["uploadId"])["status"] == "expired"
    assert put_chunk(auth_client, file["uploadId"], 0, b"x" * 10, expect=410)["error"]["code"] == "UPLOAD_EXPIRED"


def test_another_user_sees_nothing_and_cannot_write(auth_client, other_client):
    data = os.urandom(300 * KiB)
    started = init(auth_client, [one(size=len(data))], chunkSize=256 * KiB)
    upload_id = started["files"][0]["uploadId"]
    put_chunk(auth_client, upload_id, 0, data[:256 * KiB])
    mine = progress(auth_client, upload_id)

    assert put_chunk(other_client, upload_id, 1, data[256 * KiB:], expect=404)["error"]["code"] == \
        "UPLOAD_NOT_FOUND"
    assert post_chunk(other_client, upload_id, 1, data[256 * KiB:], expect=404)["error"]["code"] == \
        "UPLOAD_NOT_FOUND"
    assert progress(other_client, upload_id, expect=404)["error"]["code"] == "UPLOAD_NOT_FOUND"
    assert complete(other_client, upload_id, expect=404)["error"]["code"] == "UPLOAD_NOT_FOUND"
    assert other_client.get(f"/api/mobile/upload/{upload_id}").status_code == 404
    resp = other_client.get(f"/api/mobile/upload/session/{started['uploadSession']}")
    assert resp.status_code == 404 and resp.json()["error"]["code"] == "UPLOAD_SESSION_NOT_FOUND"
    # An upload id is not a session id, and garbage names nothing.
    assert auth_client.get(f"/api/mobile/upload/session/{upload_id}").status_code == 404
    assert auth_client.get("/api/mobile/upload/not-a-uuid").status_code == 404

    assert progress(auth_client, upload_id) == mine
    assert usage(other_client)["reserved"] == 0


def test_unauthenticated_is_401(api_client):
    resp = api_client.post("/api/mobile/upload/init", {"files": [one()]}, format="json")
    assert resp.status_code == 401 and resp.json()["error"]["code"] == "NO_TOKEN"


def test_local_storage_gives_server_chunk_urls_even_for_big_chunks(auth_client):
    if storage.is_s3():
        pytest.skip("local storage only: S3 gives presigned URLs")
    file = init(auth_client, [one(size=11 * MiB)], chunkSize=5 * MiB)["files"][0]
    assert file["direct"] is False and file["totalChunks"] == 3
    assert all(c["uploadUrl"].startswith("http://testserver/api/mobile/upload/chunk?") for c in file["chunks"])


def test_s3_direct_upload_through_presigned_urls(auth_client):
    if not storage.is_s3():
        pytest.skip("needs STORAGE_BACKEND=s3")
    data = os.urandom(11 * MiB)
    small = os.urandom(1000)
    started = init(auth_client, [one(size=len(data), checksum=sha(data)), one("small", "small.jpg", len(small))],
                   chunkSize=5 * MiB)
    file, tiny = started["files"]
    assert file["direct"] is True and file["method"] == "PUT" and file["totalChunks"] == 3
    assert not any(c["uploadUrl"].startswith("http://testserver/") for c in file["chunks"])
    # A one-chunk file has no multipart upload to sign: it comes through the server.
    assert tiny["direct"] is False and tiny["chunks"][0]["uploadUrl"].startswith("http://testserver/")

    chunk = file["chunks"][2]
    assert requests.put(chunk["uploadUrl"], data=data[chunk["start"]:chunk["end"] + 1], timeout=60).ok
    answer = put_chunk(auth_client, file["uploadId"], 0, data[:5 * MiB], expect=409)  # not through us
    assert answer["error"]["code"] == "DIRECT_UPLOAD"
    held = progress(auth_client, file["uploadId"], completedChunks=[0, 2])
    assert held["completedChunks"] == [2] and held["missingChunks"] == [0, 1]
    assert held["unconfirmedChunks"] == [0] and held["bytesUploaded"] == len(data) - 10 * MiB
    assert [c["index"] for c in held["chunks"]] == [0, 1]  # fresh presigned URLs for what is missing
    assert complete(auth_client, file["uploadId"], expect=400)["error"]["details"]["missingChunks"] == [0, 1]

    for chunk in held["chunks"]:
        assert requests.put(chunk["uploadUrl"], data=data[chunk["start"]:chunk["end"] + 1], timeout=60).ok
    held = auth_client.get(f"/api/mobile/upload/{file['uploadId']}").json()["data"]
    assert held["completedChunks"] == [0, 1, 2] and held["bytesUploaded"] == len(data)
    made = complete(auth_client, file["uploadId"])["file"]
    assert made["size"] == len(data) and made["sha256"] == sha(data)
    assert download(auth_client, made["id"]) == data

    put(auth_client, tiny["chunks"][0]["uploadUrl"], small)
    assert download(auth_client, complete(auth_client, tiny["uploadId"])["file"]["id"]) == small
    assert (usage(auth_client)["used"], usage(auth_client)["reserved"]) == (len(data) + len(small), 0)


def test_s3_direct_chunk_of_the_wrong_size_is_refused_at_complete(auth_client):
    if not storage.is_s3():
        pytest.skip("needs STORAGE_BACKEND=s3")
    data = os.urandom(11 * MiB)
    file = init(auth_client, [one(size=len(data))], chunkSize=5 * MiB)["files"][0]
    for chunk in file["chunks"]:
        body = data[chunk["start"]:chunk["end"] + 1] + (b"!" if chunk["index"] == 2 else b"")
        assert requests.put(chunk["uploadUrl"], data=body, timeout=60).ok
    answer = complete(auth_client, file["uploadId"], expect=400)
    assert answer["error"]["code"] == "CHUNK_SIZE_MISMATCH"
    assert answer["error"]["message"] == f"Chunk 2 must be {MiB} bytes, not {MiB + 1}."  # indexed from 0
    assert auth_client.get("/api/files/list").json()["data"]["items"] == []
    assert usage(auth_client)["used"] == 0
    # Sending the chunk again, right this time, repairs the upload.
    chunk = file["chunks"][2]
    assert requests.put(chunk["uploadUrl"], data=data[chunk["start"]:chunk["end"] + 1], timeout=60).ok
    assert download(auth_client, complete(auth_client, file["uploadId"])["file"]["id"]) == data


def test_an_existing_folder_is_used(auth_client):
    folder = mkdir(auth_client, "videos")
    file = init(auth_client, [one(size=5, folder="videos")], chunkSize=256 * KiB)["files"][0]
    put_chunk(auth_client, file["uploadId"], 0, b"hello")
    made = complete(auth_client, file["uploadId"])["file"]
    assert made["parentId"] == folder["id"]




@pytest.mark.parametrize("verify_inline_max, status", [(64 * MiB, 200), (MiB, 202)])
def test_s3_direct_upload_is_verified_in_the_complete_request_up_to_a_bound(auth_client, settings,
                                                                            verify_inline_max, status):
    """A direct upload's one verification read is done by `complete` itself up to
    UPLOAD_VERIFY_INLINE_MAX, whatever UPLOAD_ASSEMBLE_INLINE_MAX says: the file is there
    in the answer (200), with no worker hand-off. A bigger one goes to the worker (202)."""
    if not storage.is_s3():
        pytest.skip("needs STORAGE_BACKEND=s3")
    settings.UPLOAD_ASSEMBLE_INLINE_MAX = 0
    settings.UPLOAD_VERIFY_INLINE_MAX = verify_inline_max
    data = os.urandom(11 * MiB)
    file = init(auth_client, [one(size=len(data), checksum=sha(data))], chunkSize=5 * MiB)["files"][0]
    assert file["direct"] is True
    for chunk in file["chunks"]:
        assert requests.put(chunk["uploadUrl"], data=data[chunk["start"]:chunk["end"] + 1], timeout=60).ok
    resp = auth_client.post("/api/mobile/upload/complete", {"uploadId": file["uploadId"]}, format="json")
    assert resp.status_code == status, resp.content
    made = complete(auth_client, file["uploadId"])["file"]  # the (eager) worker ran after a 202
    assert made["sha256"] == sha(data) and download(auth_client, made["id"]) == data
