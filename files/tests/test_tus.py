"""tus 1.0.0 at /api/tus/ through HTTP: the real `tuspy` client against a live server,
raw interrupted requests, and the protocol's errors, on the local and the S3 backend."""

import base64
import hashlib
import io
import os
import socket
import time
from urllib.parse import urlparse

import pytest
from django.core.files.storage import storages
from django.utils.http import parse_http_date
from tusclient import client as tus_client

from storage_site.testing.server import gunicorn_factory  # noqa: F401  (fixture)

from .helpers import download, mkdir, usage

pytestmark = pytest.mark.django_db

MiB = 1024 * 1024
TUS = {"HTTP_TUS_RESUMABLE": "1.0.0"}
OFFSET_STREAM = "application/offset+octet-stream"


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def create(client, length, *, metadata=None, body=None, expect=201, **extra):
    """POST /api/tus/; returns the upload's path (or the response when not 201)."""
    headers = {**TUS, "HTTP_UPLOAD_LENGTH": str(length), **extra}
    if metadata is not None:
        headers["HTTP_UPLOAD_METADATA"] = ",".join(f"{key} {b64(value)}" for key, value in metadata.items())
    if body is None:
        resp = client.generic("POST", "/api/tus/", **headers)
    else:
        resp = client.generic("POST", "/api/tus/", body, content_type=OFFSET_STREAM, **headers)
    assert resp.status_code == expect, resp.content
    assert resp["Tus-Resumable"] == "1.0.0"
    return urlparse(resp["Location"]).path if expect == 201 and body is None else resp


def patch(client, url, data, offset, *, expect=204, content_type=OFFSET_STREAM, **extra):
    headers = {**TUS, "HTTP_UPLOAD_OFFSET": str(offset), **extra}
    resp = client.generic("PATCH", url, data, content_type=content_type, **headers)
    assert resp.status_code == expect, resp.content
    assert resp["Tus-Resumable"] == "1.0.0"
    return resp


def head(client, url, *, expect=200):
    resp = client.head(url, **TUS)
    assert resp.status_code == expect, resp.status_code
    return resp


def offset_of(client, url) -> int:
    return int(head(client, url)["Upload-Offset"])


def checksum(algorithm: str, data: bytes) -> str:
    return f"{algorithm} {base64.b64encode(hashlib.new(algorithm, data).digest()).decode()}"


def stored_objects() -> list[str]:
    storage = storages["default"]
    if hasattr(storage, "bucket"):
        return sorted(obj.key for obj in storage.bucket.objects.filter(Prefix="blobs/"))
    return sorted(os.path.join(root, name) for root, _dirs, files in os.walk(storage.location) for name in files)


def file_named(client, name: str) -> dict:
    items = client.get("/api/files/list").json()["data"]["items"]
    matches = [item for item in items if item["name"] == name]
    assert len(matches) == 1, items
    return matches[0]


# --- discovery -----------------------------------------------------------------------------

def test_options_describes_the_server_without_credentials(api_client, settings):
    resp = api_client.options("/api/tus/")
    assert resp.status_code == 204
    assert resp["Tus-Resumable"] == "1.0.0" and resp["Tus-Version"] == "1.0.0"
    assert resp["Tus-Extension"] == "creation,creation-with-upload,termination,checksum,expiration"
    assert resp["Tus-Max-Size"] == str(settings.UPLOAD_SESSION_MAX_SIZE)
    assert resp["Tus-Checksum-Algorithm"] == "sha1,md5,sha256"


# --- the real client ------------------------------------------------------------------------

@pytest.mark.parametrize("size,chunk", [(300_000, 64 * 1024), (11 * MiB, 5 * MiB)])  # S3: small parts, big parts
def test_tuspy_uploads_a_file(live_server, auth_client, size, chunk):
    data = os.urandom(size)
    client = tus_client.TusClient(live_server.url + "/api/tus/",
                                  headers={"Authorization": f"Bearer {auth_client.sign_in.access}"})
    uploader = client.uploader(file_stream=io.BytesIO(data), chunk_size=chunk, metadata={"filename": "video.mp4"},
                               upload_checksum=True)
    uploader.upload()

    file_id = uploader.request.response_headers["stratus-file-id"]
    assert file_named(auth_client, "video.mp4")["id"] == file_id
    assert download(auth_client, file_id) == data
    stats = usage(auth_client)
    assert stats["used"] == size and stats["reserved"] == 0


def test_tuspy_resumes_from_the_servers_offset(live_server, auth_client, settings):
    settings.UPLOAD_ASSEMBLE_INLINE_MAX = 0  # the file is assembled by the (eager) Celery task
    data = os.urandom(700_000)
    client = tus_client.TusClient(live_server.url + "/api/tus/",
                                  headers={"Authorization": f"Bearer {auth_client.sign_in.access}"})
    first = client.uploader(file_stream=io.BytesIO(data), chunk_size=100_000, metadata={"filename": "movie.mkv"})
    first.upload(stop_at=300_000)  # the client stops (crash, lost network) after three chunks
    assert usage(auth_client)["reserved"] == len(data)

    resumed = client.uploader(file_stream=io.BytesIO(data), chunk_size=150_000, url=first.url)
    assert resumed.offset == 300_000  # learnt from HEAD
    resumed.upload()

    file_id = resumed.request.response_headers["stratus-file-id"]
    assert download(auth_client, file_id) == data
    stats = usage(auth_client)
    assert stats["used"] == len(data) and stats["reserved"] == 0


def test_tuspy_uploads_an_empty_file(live_server, auth_client):
    client = tus_client.TusClient(live_server.url + "/api/tus/",
                                  headers={"Authorization": f"Bearer {auth_client.sign_in.access}"})
    client.uploader(file_stream=io.BytesIO(b""), metadata={"filename": "empty.txt"}).upload()  # POST only
    assert file_named(auth_client, "empty.txt")["size"] == 0
    assert download(auth_client, file_named(auth_client, "empty.txt")["id"]) == b""


# --- bodies cut short --------------------------------------------------------------------------

def _raw_patch(live_server, url, token, head_bytes: bytes, declared: int, sent: bytes) -> bytes:
    """Send a PATCH announcing `declared` bytes, send fewer, stop sending; the server's answer."""
    address = urlparse(live_server.url)
    with socket.create_connection((address.hostname, address.port), timeout=30) as sock:
        sock.sendall(f"PATCH {url} HTTP/1.1\r\nHost: {address.netloc}\r\nAuthorization: Bearer {token}\r\n"
                     f"Tus-Resumable: 1.0.0\r\nContent-Type: {OFFSET_STREAM}\r\nContent-Length: {declared}\r\n"
                     "Connection: close\r\n".encode() + head_bytes + b"\r\n" + sent)
        sock.shutdown(socket.SHUT_WR)  # the connection drops mid-body: the server reads an early end
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer


def test_patch_cut_short_keeps_what_arrived(live_server, auth_client):
    """The server keeps the bytes of a body that ends early (tus resume semantics): HEAD
    reports them, and the client sends the rest from there. (The client half-closes its
    socket and reads the answer, so the test knows when the server has finished.)"""
    data = os.urandom(1000)
    url = create(auth_client, len(data), metadata={"filename": "cut.bin"})
    answer = _raw_patch(live_server, url, auth_client.sign_in.access, b"Upload-Offset: 0\r\n", 1000, data[:400])
    assert answer.startswith(b"HTTP/1.1 204")
    assert b"\r\nUpload-Offset: 400\r\n" in answer

    assert offset_of(auth_client, url) == 400
    resp = patch(auth_client, url, data[400:], 400)
    assert resp["Upload-Offset"] == "1000"
    assert download(auth_client, resp["Stratus-File-Id"]) == data
    stats = usage(auth_client)
    assert stats["used"] == 1000 and stats["reserved"] == 0


def test_patch_with_checksum_cut_short_keeps_nothing(auth_client):
    data = os.urandom(1000)
    url = create(auth_client, len(data))
    before = stored_objects()
    resp = auth_client.generic("PATCH", url, b"", content_type=OFFSET_STREAM, CONTENT_LENGTH="1000",
                               HTTP_UPLOAD_OFFSET="0", HTTP_UPLOAD_CHECKSUM=checksum("sha1", data),
                               **{"wsgi.input": io.BytesIO(data[:400])}, **TUS)
    assert resp.status_code == 460 and resp.reason_phrase == "Checksum Mismatch"
    assert offset_of(auth_client, url) == 0
    assert stored_objects() == before
    patch(auth_client, url, data, 0, HTTP_UPLOAD_CHECKSUM=checksum("sha1", data))


# --- the protocol through the API client -----------------------------------------------------

def test_create_head_patch_in_steps(auth_client):
    data = os.urandom(5000)
    url = create(auth_client, len(data), metadata={"filename": "notes.txt", "filetype": "text/plain"})
    assert url.startswith("/api/tus/")
    first = head(auth_client, url)
    assert first["Upload-Offset"] == "0" and first["Upload-Length"] == "5000"
    assert first["Cache-Control"] == "no-store"
    assert first["Upload-Metadata"] == f"filename {b64('notes.txt')}"
    assert "Stratus-File-Id" not in first

    assert patch(auth_client, url, data[:2000], 0)["Upload-Offset"] == "2000"
    assert patch(auth_client, url, b"", 2000)["Upload-Offset"] == "2000"  # an empty body changes nothing
    done = patch(auth_client, url, data[2000:], 2000)
    assert done["Upload-Offset"] == "5000" and "Upload-Expires" not in done  # a finished upload stays

    after = head(auth_client, url)  # a finished upload keeps answering
    assert after["Upload-Offset"] == "5000" and after["Stratus-File-Id"] == done["Stratus-File-Id"]
    info = auth_client.get(f"/api/files/{done['Stratus-File-Id']}/info").json()["data"]
    assert info["name"] == "notes.txt" and info["mimeType"] == "text/plain"
    assert download(auth_client, done["Stratus-File-Id"]) == data


def test_creation_with_upload(auth_client):
    data = os.urandom(3000)
    resp = create(auth_client, 5000, body=data[:1000])
    assert resp["Upload-Offset"] == "1000" and resp["Location"].startswith("http://testserver/api/tus/")
    url = urlparse(resp["Location"]).path
    assert offset_of(auth_client, url) == 1000

    whole = create(auth_client, len(data), body=data, metadata={"filename": "at-once.bin"})
    assert whole["Upload-Offset"] == "3000"
    assert download(auth_client, whole["Stratus-File-Id"]) == data


def test_zero_length_upload_completes_at_once(auth_client):
    resp = create(auth_client, 0, metadata={"filename": "empty.txt"}, body=b"")
    assert resp["Upload-Offset"] == "0" and resp["Stratus-File-Id"]
    assert download(auth_client, resp["Stratus-File-Id"]) == b""
    assert head(auth_client, urlparse(resp["Location"]).path)["Stratus-File-Id"] == resp["Stratus-File-Id"]


def test_folder_metadata_and_name_conflicts(auth_client):
    folder = mkdir(auth_client, "Videos")
    ids = []
    for _ in range(2):
        resp = create(auth_client, 3, body=b"abc", metadata={"filename": "clip.mp4", "folderId": folder["id"]})
        ids.append(resp["Stratus-File-Id"])
    names = sorted(auth_client.get(f"/api/files/{file_id}/info").json()["data"]["name"] for file_id in ids)
    assert names == ["clip (1).mp4", "clip.mp4"]
    inside = auth_client.get("/api/files/list", {"folderId": folder["id"]}).json()["data"]["items"]
    assert {item["id"] for item in inside} == set(ids)


def test_tus_resumable_is_required(auth_client):
    url = create(auth_client, 10)
    for headers in ({}, {"HTTP_TUS_RESUMABLE": "0.2.2"}):
        resp = auth_client.generic("POST", "/api/tus/", HTTP_UPLOAD_LENGTH="10", **headers)
        assert resp.status_code == 412 and resp["Tus-Version"] == "1.0.0"
        assert resp.json()["error"]["code"] == "TUS_VERSION_UNSUPPORTED"
        resp = auth_client.generic("PATCH", url, b"x", content_type=OFFSET_STREAM, HTTP_UPLOAD_OFFSET="0",
                                   **headers)
        assert resp.status_code == 412 and resp["Tus-Resumable"] == "1.0.0"
        assert auth_client.head(url, **headers).status_code == 412
    assert offset_of(auth_client, url) == 0


def test_wrong_offset_is_a_conflict_that_names_the_real_one(auth_client):
    url = create(auth_client, 100)
    patch(auth_client, url, b"a" * 40, 0)
    for wrong in (0, 39, 41, 100):
        resp = patch(auth_client, url, b"b" * 10, wrong, expect=409)
        assert resp["Upload-Offset"] == "40" and resp.json()["error"]["code"] == "OFFSET_MISMATCH"
    resp = patch(auth_client, url, b"b", 0, expect=400, HTTP_UPLOAD_OFFSET="-1")
    assert resp.json()["error"]["code"] == "VALIDATION_ERROR"
    assert offset_of(auth_client, url) == 40


def test_patch_needs_the_offset_stream_type(auth_client):
    url = create(auth_client, 10)
    resp = patch(auth_client, url, b"0123456789", 0, expect=415, content_type="application/octet-stream")
    assert resp.json()["error"]["code"] == "UNSUPPORTED_MEDIA_TYPE"
    resp = auth_client.generic("POST", "/api/tus/", b"0123456789", content_type="text/plain",
                               HTTP_UPLOAD_LENGTH="10", **TUS)
    assert resp.status_code == 415
    assert offset_of(auth_client, url) == 0


@pytest.mark.parametrize("algorithm", ["sha1", "md5", "sha256"])
def test_checksums(auth_client, algorithm):
    data = os.urandom(2000)
    url = create(auth_client, len(data))
    before = stored_objects()
    # The checksum of other bytes: the last one changed for sure (replacing it with a fixed
    # byte left the body unchanged whenever it was that byte already, 1 run in 256).
    other = data[:999] + bytes([data[999] ^ 0xFF])
    resp = patch(auth_client, url, data[:1000], 0, expect=460, HTTP_UPLOAD_CHECKSUM=checksum(algorithm, other))
    assert resp.reason_phrase == "Checksum Mismatch" and resp.json()["error"]["code"] == "CHECKSUM_MISMATCH"
    assert offset_of(auth_client, url) == 0 and stored_objects() == before

    patch(auth_client, url, data[:1000], 0, HTTP_UPLOAD_CHECKSUM=checksum(algorithm, data[:1000]))
    done = patch(auth_client, url, data[1000:], 1000, HTTP_UPLOAD_CHECKSUM=checksum(algorithm, data[1000:]))
    assert download(auth_client, done["Stratus-File-Id"]) == data


@pytest.mark.parametrize("accept", ["text/html", "text/html,application/xhtml+xml,*/*;q=0.8"])
def test_a_browser_accept_header_gets_tus_answers_not_an_html_page(auth_client, accept):
    """DRF's browsable page cannot describe raw-body endpoints (it crashed with a 500):
    tus answers as tus does, headers and the JSON error envelope, whatever `Accept` says."""
    url = create(auth_client, 6, HTTP_ACCEPT=accept)
    assert patch(auth_client, url, b"abc", 0, HTTP_ACCEPT=accept)["Upload-Offset"] == "3"
    conflict = patch(auth_client, url, b"def", 0, expect=409, HTTP_ACCEPT=accept)
    assert conflict["Content-Type"] == "application/json" and conflict.json()["error"]["code"] == "OFFSET_MISMATCH"
    assert auth_client.head(url, HTTP_ACCEPT=accept, **TUS).status_code == 200
    assert auth_client.get(url, HTTP_ACCEPT=accept, **TUS).status_code == 405
    patch(auth_client, url, b"def", 3, HTTP_ACCEPT=accept)


def test_unknown_checksum_algorithm_is_refused(auth_client):
    url = create(auth_client, 3)
    resp = patch(auth_client, url, b"abc", 0, expect=400, HTTP_UPLOAD_CHECKSUM="crc32 AAAAAA==")
    assert resp.json()["error"]["code"] == "UNSUPPORTED_CHECKSUM_ALGORITHM"
    patch(auth_client, url, b"abc", 0, expect=400, HTTP_UPLOAD_CHECKSUM="sha1 not*base64")
    assert offset_of(auth_client, url) == 0


def test_body_longer_than_declared_stores_nothing(auth_client):
    url = create(auth_client, 100)
    patch(auth_client, url, b"a" * 60, 0)
    before = stored_objects()
    resp = patch(auth_client, url, b"b" * 41, 60, expect=413)
    assert resp.json()["error"]["code"] == "UPLOAD_TOO_LONG"
    assert offset_of(auth_client, url) == 60 and stored_objects() == before
    assert create(auth_client, 10, body=b"c" * 11, expect=413).json()["error"]["code"] == "UPLOAD_TOO_LONG"


@pytest.mark.parametrize("headers,status,code", [
    ({}, 400, "VALIDATION_ERROR"),  # no Upload-Length
    ({"HTTP_UPLOAD_DEFER_LENGTH": "1"}, 400, "VALIDATION_ERROR"),
    ({"HTTP_UPLOAD_LENGTH": "-5"}, 400, "VALIDATION_ERROR"),
    ({"HTTP_UPLOAD_LENGTH": "ten"}, 400, "VALIDATION_ERROR"),
    ({"HTTP_UPLOAD_LENGTH": "10", "HTTP_UPLOAD_METADATA": "filename not*base64"}, 400, "INVALID_METADATA"),
    ({"HTTP_UPLOAD_LENGTH": "10", "HTTP_UPLOAD_METADATA": "filename " + base64.b64encode(b"\xff").decode()},
     400, "INVALID_METADATA"),
    ({"HTTP_UPLOAD_LENGTH": "10", "HTTP_UPLOAD_METADATA": f"filename {b64('a/b')}"}, 400, "INVALID_NAME"),
    ({"HTTP_UPLOAD_LENGTH": "10", "HTTP_UPLOAD_METADATA": f"folderId {b64('not-a-folder')}"}, 404, "NOT_FOUND"),
])
def test_bad_creation_requests(auth_client, headers, status, code):
    resp = auth_client.generic("POST", "/api/tus/", **TUS, **headers)
    assert resp.status_code == status, resp.content
    assert resp.json()["error"]["code"] == code
    assert usage(auth_client)["reserved"] == 0


def test_quota_and_size_limits_reserve_nothing(client_for, make_user, settings):
    small = client_for(make_user(storage_quota=MiB))
    resp = create(small, 6 * MiB, expect=413)
    assert resp.json()["error"]["code"] == "STORAGE_QUOTA_EXCEEDED"
    assert usage(small)["reserved"] == 0
    settings.UPLOAD_SESSION_MAX_SIZE = 100
    assert create(small, 101, expect=413).json()["error"]["code"] == "FILE_TOO_LARGE"
    assert create(small, 100)  # within both limits
    assert usage(small)["reserved"] == 100


def test_delete_cancels_and_releases_the_quota(auth_client):
    url = create(auth_client, 500)
    patch(auth_client, url, b"x" * 200, 0)
    assert usage(auth_client)["reserved"] == 500
    resp = auth_client.delete(url, **TUS)
    assert resp.status_code == 204 and resp["Tus-Resumable"] == "1.0.0"
    assert head(auth_client, url, expect=410)
    assert patch(auth_client, url, b"x", 200, expect=410).json()["error"]["code"] == "CANCELLED"
    assert auth_client.delete(url, **TUS).status_code == 410
    stats = usage(auth_client)
    assert stats["reserved"] == 0 and stats["used"] == 0


def test_a_completed_upload_cannot_be_cancelled(auth_client):
    resp = create(auth_client, 3, body=b"abc")
    url = urlparse(resp["Location"]).path
    assert auth_client.delete(url, **TUS).status_code == 409
    assert download(auth_client, resp["Stratus-File-Id"]) == b"abc"


def test_completion_that_fails_answers_the_engines_error(auth_client):
    folder = mkdir(auth_client, "Gone")
    url = create(auth_client, 6, metadata={"filename": "a.txt", "folderId": folder["id"]})
    patch(auth_client, url, b"abc", 0)
    assert auth_client.delete(f"/api/folders/{folder['id']}/delete").status_code == 200
    resp = patch(auth_client, url, b"def", 3, expect=409)
    assert resp.json()["error"]["code"] == "NOT_FOUND"
    head(auth_client, url, expect=410)
    assert usage(auth_client)["reserved"] == 0


# --- isolation and authentication -------------------------------------------------------------

def test_another_users_upload_is_not_found(auth_client, other_client):
    url = create(auth_client, 100)
    patch(auth_client, url, b"a" * 30, 0)
    head(other_client, url, expect=404)
    patch(other_client, url, b"b" * 10, 30, expect=404)
    assert other_client.delete(url, **TUS).status_code == 404
    assert offset_of(auth_client, url) == 30
    assert usage(other_client)["reserved"] == 0 and usage(auth_client)["reserved"] == 100
    head(auth_client, "/api/tus/not-an-id", expect=404)
    head(auth_client, "/api/tus/00000000-0000-0000-0000-000000000000", expect=404)


def test_credentials_are_required(api_client, auth_client):
    url = create(auth_client, 10)
    resp = api_client.generic("POST", "/api/tus/", HTTP_UPLOAD_LENGTH="10", **TUS)
    assert resp.status_code == 401 and resp.json()["error"]["code"] == "NO_TOKEN"
    assert resp["Tus-Resumable"] == "1.0.0"
    assert api_client.head(url, **TUS).status_code == 401
    patch(api_client, url, b"x", 0, expect=401)
    assert api_client.delete(url, **TUS).status_code == 401
    assert offset_of(auth_client, url) == 0


# --- expiration --------------------------------------------------------------------------------

def test_upload_expires_is_announced(auth_client, settings):
    url_resp = create(auth_client, 10, body=b"abc")
    created = parse_http_date(url_resp["Upload-Expires"])
    expected = time.time() + settings.UPLOAD_SESSION_TTL_DAYS * 86400
    assert abs(created - expected) < 60
    url = urlparse(url_resp["Location"]).path
    assert abs(parse_http_date(head(auth_client, url)["Upload-Expires"]) - expected) < 60
    assert abs(parse_http_date(patch(auth_client, url, b"de", 3)["Upload-Expires"]) - expected) < 60


def test_an_expired_upload_is_gone(auth_client, settings):
    settings.UPLOAD_SESSION_TTL_DAYS = 0  # expires as it is created
    url = create(auth_client, 10)
    resp = head(auth_client, url, expect=410)
    assert resp["Tus-Resumable"] == "1.0.0"
    assert patch(auth_client, url, b"abc", 0, expect=410).json()["error"]["code"] == "UPLOAD_EXPIRED"


# --- a PATCH cut by a page reload, and the resumed PATCH racing it -------------------------------

def _patch_cut(server, token, path, data, sent: int) -> None:
    """A PATCH whose Content-Length announces all of `data` but whose client goes away
    (a page reload) after `sent` bytes."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall((f"PATCH {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
                      f"Tus-Resumable: 1.0.0\r\nUpload-Offset: 0\r\nContent-Type: {OFFSET_STREAM}\r\n"
                      f"Content-Length: {len(data)}\r\n\r\n").encode())
        sock.sendall(data[:sent])


@pytest.mark.parametrize("sent", [1 * MiB, 3 * MiB])
def test_a_cut_patch_and_the_resumed_one_racing_it_end_consistent(gunicorn_factory, sent):  # noqa: F811
    """The browser reloads in the middle of a PATCH and resumes at once, at the offset it
    last knew, while the server may still be recording the cut body. Whichever wins, the
    other is a 409 that says where the upload stands (never a 500), and resuming from
    there completes the file with exactly the bytes sent."""
    import requests

    server = gunicorn_factory(workers=2, threads=4)
    token = server.sign_in("racer@example.com")
    http = requests.Session()
    # One connection per request: a server that answers 409 before reading a body may
    # close its connection (RFC 9112 §9.6), and requests does not retry a reused one.
    http.headers.update({"Authorization": f"Bearer {token}", "Tus-Resumable": "1.0.0", "Connection": "close"})
    for round_number in range(4):
        data = os.urandom(4 * MiB)
        created = http.post(server.url + "/api/tus/", headers={
            "Upload-Length": str(len(data)), "Upload-Metadata": f"filename {b64(f'race{round_number}.bin')}"})
        assert created.status_code == 201, created.text
        path = urlparse(created.headers["Location"]).path
        _patch_cut(server, token, path, data, sent)
        time.sleep(0.01 * round_number)  # vary where the resumed PATCH meets the cut one
        statuses = []
        offset = 0
        for _attempt in range(10):
            resp = http.patch(server.url + path, data=data[offset:], headers={
                "Upload-Offset": str(offset), "Content-Type": OFFSET_STREAM})
            statuses.append(resp.status_code)
            assert resp.status_code in (204, 409, 423), (resp.status_code, resp.text)
            if resp.status_code == 204 and int(resp.headers["Upload-Offset"]) == len(data):
                break
            offset = int(http.head(server.url + path).headers["Upload-Offset"])
            if offset == len(data):
                break
        file_id = None
        for _wait in range(100):
            file_id = http.head(server.url + path).headers.get("Stratus-File-Id")
            if file_id:
                break
            time.sleep(0.1)
        assert file_id, statuses
        got = http.get(f"{server.url}/api/files/{file_id}/download")
        assert got.status_code == 200 and got.content == data, statuses
    assert "Traceback" not in server.log() and " 500 " not in server.log()
