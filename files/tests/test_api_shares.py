"""Share links through HTTP: the owner's side (create, list, change, revoke) and the
public side (info, unlock, download), with expiry, download limits and brute-force limits."""

import re
from datetime import datetime, timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from files.models import ShareLink
from files.tests import helpers
from files.tests.helpers import content, share

pytestmark = pytest.mark.django_db

DATA = bytes(range(256)) * 40 + b"tail"  # 10,244 bytes, every byte value
LINK_FIELDS = {"id", "token", "url", "downloadUrl", "fileId", "hasPassword", "expiresAt", "maxDownloads", "downloadCount",
               "createdAt", "revokedAt"}


class AnyText:
    """Equal to any non-empty string: error messages may be reworded, codes may not."""

    def __eq__(self, other):
        return isinstance(other, str) and other != ""

    def __repr__(self):
        return "<any text>"


def upload(client, name="report.pdf", data=DATA, content_type="application/pdf") -> dict:
    return helpers.upload(client, name, data, content_type=content_type)


def assert_error(resp, status: int, code: str):
    assert resp.status_code == status, (resp.status_code, resp.content)
    assert resp.json() == {"success": False, "error": {"code": code, "message": AnyText()}}


def info(client, token, **extra):
    return client.get(f"/api/public/shares/{token}", **extra)


def unlock(client, token, password, ip="127.0.0.1", **extra):
    return client.post(f"/api/public/shares/{token}/unlock", {"password": password}, format="json",
                       REMOTE_ADDR=ip, **extra)


def fetch(client, token, grant=None, **extra):
    path = f"/api/public/shares/{token}/download" + (f"?grant={grant}" if grant else "")
    return client.get(path, **extra)


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@pytest.fixture
def file(auth_client):
    return upload(auth_client)


# --- create --------------------------------------------------------------------------------

def test_create_answers_201_in_the_envelope(auth_client, file):
    resp = auth_client.post(f"/api/files/{file['id']}/share", {}, format="json")
    assert resp.status_code == 201
    body = resp.json()
    assert body["success"] is True
    assert body["message"] == "Share link created"
    link = body["data"]
    assert set(link) == LINK_FIELDS
    assert link["url"] == f"http://testserver/s/{link['token']}"  # the page a person opens
    assert link["downloadUrl"] == f"http://testserver/api/public/shares/{link['token']}/download"
    assert link["fileId"] == file["id"]
    assert link["hasPassword"] is False
    assert link["expiresAt"] is None
    assert link["maxDownloads"] is None
    assert link["downloadCount"] == 0
    assert link["revokedAt"] is None
    assert isinstance(link["id"], int)


def test_create_with_options(auth_client, file):
    before = timezone.now()
    link = share(auth_client, file["id"], expiresIn=3600, password="s3cret pass", maxDownloads=3)
    assert link["hasPassword"] is True
    assert link["maxDownloads"] == 3
    expires = parse_time(link["expiresAt"])
    assert before + timedelta(seconds=3595) <= expires <= timezone.now() + timedelta(seconds=3605)


def test_the_password_never_comes_back(auth_client, file):
    resp = auth_client.post(f"/api/files/{file['id']}/share", {"password": "hunter2-secret"}, format="json")
    assert resp.status_code == 201
    assert b"hunter2-secret" not in resp.content
    stored = ShareLink.objects.get(pk=resp.json()["data"]["id"])
    assert stored.password_hash and stored.password_hash.encode() not in resp.content
    listing = auth_client.get(f"/api/files/{file['id']}/share")
    assert b"hunter2-secret" not in listing.content and stored.password_hash.encode() not in listing.content


def test_token_is_long_random_and_url_safe(auth_client, file):
    tokens = [share(auth_client, file["id"])["token"] for _ in range(5)]
    for token in tokens:
        assert len(token) >= 22  # ≥ 128 bits in base64url
        assert re.fullmatch(r"[A-Za-z0-9_-]+", token)
    assert len(set(tokens)) == 5


@pytest.mark.parametrize("options, field", [
    ({"expiresIn": 59}, "expiresIn"),
    ({"expiresIn": "soon"}, "expiresIn"),
    ({"maxDownloads": 0}, "maxDownloads"),
    ({"maxDownloads": -1}, "maxDownloads"),
    ({"password": ""}, "password"),
])
def test_create_rejects_bad_options(auth_client, file, options, field):
    resp = auth_client.post(f"/api/files/{file['id']}/share", options, format="json")
    assert resp.status_code == 400
    body = resp.json()
    assert body["success"] is False
    assert body["error"]["code"] == "VALIDATION_ERROR"
    assert field in body["error"]["details"]
    assert not ShareLink.objects.exists()


def test_folder_cannot_be_shared(auth_client):
    resp = auth_client.post("/api/folders/create", {"name": "Docs"}, format="json")
    assert resp.status_code == 201
    folder_id = resp.json()["data"]["id"]
    resp = auth_client.post(f"/api/files/{folder_id}/share", {}, format="json")
    assert_error(resp, 404, "NOT_FOUND")
    assert not ShareLink.objects.exists()


def test_create_needs_a_token(api_client, file):
    resp = api_client.post(f"/api/files/{file['id']}/share", {}, format="json")
    assert_error(resp, 401, "NO_TOKEN")


@pytest.mark.parametrize("file_id", ["not-a-uuid", "00000000-0000-0000-0000-000000000000"])
def test_create_for_unknown_file_is_404(auth_client, file_id):
    resp = auth_client.post(f"/api/files/{file_id}/share", {}, format="json")
    assert_error(resp, 404, "NOT_FOUND")


# --- list ------------------------------------------------------------------------------------

def test_list_shows_the_files_links_newest_first(auth_client, file):
    other = upload(auth_client, "other.txt", b"x", "text/plain")
    first = share(auth_client, file["id"])
    second = share(auth_client, file["id"], maxDownloads=5)
    share(auth_client, other["id"])
    resp = auth_client.get(f"/api/files/{file['id']}/share")
    assert resp.status_code == 200
    body = resp.json()
    assert body["success"] is True
    assert [link["id"] for link in body["data"]] == [second["id"], first["id"]]
    assert body["data"][0] == second
    assert all(set(link) == LINK_FIELDS for link in body["data"])


def test_list_of_an_unshared_file_is_empty(auth_client, file):
    resp = auth_client.get(f"/api/files/{file['id']}/share")
    assert resp.status_code == 200
    assert resp.json() == {"success": True, "data": []}


# --- public info ---------------------------------------------------------------------------

def test_public_info(api_client, auth_client, file):
    link = share(auth_client, file["id"], password="pw-123456")
    resp = info(api_client, link["token"])
    assert resp.status_code == 200
    assert resp.json() == {"success": True, "data": {
        "name": "report.pdf", "size": len(DATA), "mimeType": "application/pdf", "hasPassword": True,
        "expiresAt": None, "url": f"http://testserver/s/{link['token']}",
        "downloadUrl": f"http://testserver/api/public/shares/{link['token']}/download"}}


def test_public_info_shows_expiry(api_client, auth_client, file):
    link = share(auth_client, file["id"], expiresIn=600)
    data = info(api_client, link["token"]).json()["data"]
    assert data["hasPassword"] is False
    assert parse_time(data["expiresAt"]) == parse_time(link["expiresAt"])


@pytest.mark.parametrize("token", ["nope", "A" * 32, "x" * 64])
def test_unknown_token_is_404_everywhere(api_client, token):
    assert_error(info(api_client, token), 404, "NOT_FOUND")
    assert_error(unlock(api_client, token, "whatever"), 404, "NOT_FOUND")
    assert_error(fetch(api_client, token), 404, "NOT_FOUND")


# --- public download -----------------------------------------------------------------------

def test_open_link_downloads_the_uploaded_bytes(api_client, auth_client, file):
    link = share(auth_client, file["id"])
    resp = fetch(api_client, link["token"])
    assert resp.status_code == 200
    assert content(resp) == DATA
    assert resp["Content-Length"] == str(len(DATA))
    assert resp["Content-Disposition"] == 'attachment; filename="report.pdf"'
    assert resp["X-Content-Type-Options"] == "nosniff"


def test_link_serves_the_current_version(api_client, auth_client, file):
    link = share(auth_client, file["id"])
    newer = upload(auth_client, "report.pdf", b"%PDF version two")
    assert newer["id"] == file["id"] and newer["version"] == 2
    assert content(fetch(api_client, link["token"])) == b"%PDF version two"


def test_link_serves_html_as_a_sandboxed_attachment(api_client, auth_client):
    page = upload(auth_client, "page.html", b"<script>alert(1)</script>", "text/html")
    link = share(auth_client, page["id"])
    resp = fetch(api_client, link["token"])
    assert resp.status_code == 200
    assert resp["Content-Type"] == "application/octet-stream"
    assert resp["Content-Disposition"].startswith("attachment;")
    assert "sandbox" in resp["Content-Security-Policy"]


def test_protected_link_needs_a_grant(api_client, auth_client, file):
    link = share(auth_client, file["id"], password="open sesame")
    assert_error(fetch(api_client, link["token"]), 401, "SHARE_PASSWORD_REQUIRED")
    assert_error(fetch(api_client, link["token"], grant="made-up"), 401, "SHARE_PASSWORD_REQUIRED")
    assert_error(fetch(api_client, link["token"], HTTP_X_SHARE_GRANT="made-up"), 401, "SHARE_PASSWORD_REQUIRED")
    assert ShareLink.objects.get(pk=link["id"]).download_count == 0


def test_wrong_password_is_401(api_client, auth_client, file):
    link = share(auth_client, file["id"], password="open sesame")
    assert_error(unlock(api_client, link["token"], "open sesame "), 401, "SHARE_PASSWORD_INVALID")
    assert_error(unlock(api_client, link["token"], "OPEN SESAME"), 401, "SHARE_PASSWORD_INVALID")


def test_unlock_without_a_password_is_400(api_client, auth_client, file):
    link = share(auth_client, file["id"], password="open sesame")
    resp = api_client.post(f"/api/public/shares/{link['token']}/unlock", {}, format="json")
    assert resp.status_code == 400
    assert resp.json()["error"]["code"] == "VALIDATION_ERROR"


def test_right_password_gives_a_grant_for_query_and_header(api_client, auth_client, file):
    link = share(auth_client, file["id"], password="open sesame")
    resp = unlock(api_client, link["token"], "open sesame")
    assert resp.status_code == 200
    body = resp.json()
    assert body == {"success": True, "data": {"grant": AnyText(), "expiresIn": 3600}}
    grant = body["data"]["grant"]

    by_query = fetch(api_client, link["token"], grant=grant)
    assert by_query.status_code == 200
    assert content(by_query) == DATA
    by_header = fetch(api_client, link["token"], HTTP_X_SHARE_GRANT=grant)
    assert by_header.status_code == 200
    assert content(by_header) == DATA


def test_a_grant_is_for_one_link_only(api_client, auth_client, file):
    first = share(auth_client, file["id"], password="same password")
    second = share(auth_client, file["id"], password="same password")
    grant = unlock(api_client, first["token"], "same password").json()["data"]["grant"]
    assert fetch(api_client, first["token"], grant=grant).status_code == 200
    assert_error(fetch(api_client, second["token"], grant=grant), 401, "SHARE_PASSWORD_REQUIRED")


def test_a_tampered_grant_is_refused(api_client, auth_client, file):
    link = share(auth_client, file["id"], password="open sesame")
    grant = unlock(api_client, link["token"], "open sesame").json()["data"]["grant"]
    tampered = grant[:-2] + ("AA" if grant[-2:] != "AA" else "BB")
    assert_error(fetch(api_client, link["token"], grant=tampered), 401, "SHARE_PASSWORD_REQUIRED")


def test_an_old_grant_expires_after_an_hour(api_client, auth_client, file, monkeypatch):
    link = share(auth_client, file["id"], password="open sesame")
    grant = unlock(api_client, link["token"], "open sesame").json()["data"]["grant"]
    import time

    now = time.time()
    monkeypatch.setattr(time, "time", lambda: now + 3601)
    assert_error(fetch(api_client, link["token"], grant=grant), 401, "SHARE_PASSWORD_REQUIRED")


# --- change ----------------------------------------------------------------------------------

def test_password_change_ends_earlier_grants(api_client, auth_client, file):
    link = share(auth_client, file["id"], password="first password")
    grant = unlock(api_client, link["token"], "first password").json()["data"]["grant"]
    assert fetch(api_client, link["token"], grant=grant).status_code == 200

    resp = auth_client.patch(f"/api/shares/{link['id']}", {"password": "second password"}, format="json")
    assert resp.status_code == 200
    assert resp.json()["success"] is True
    assert resp.json()["data"]["hasPassword"] is True

    assert_error(fetch(api_client, link["token"], grant=grant), 401, "SHARE_PASSWORD_REQUIRED")
    assert_error(fetch(api_client, link["token"], HTTP_X_SHARE_GRANT=grant), 401, "SHARE_PASSWORD_REQUIRED")
    assert_error(unlock(api_client, link["token"], "first password"), 401, "SHARE_PASSWORD_INVALID")
    fresh = unlock(api_client, link["token"], "second password").json()["data"]["grant"]
    assert content(fetch(api_client, link["token"], grant=fresh)) == DATA


def test_setting_the_same_password_again_still_ends_grants(api_client, auth_client, file):
    link = share(auth_client, file["id"], password="leaked password")
    grant = unlock(api_client, link["token"], "leaked password").json()["data"]["grant"]
    auth_client.patch(f"/api/shares/{link['id']}", {"password": "leaked password"}, format="json")
    assert_error(fetch(api_client, link["token"], grant=grant), 401, "SHARE_PASSWORD_REQUIRED")


def test_empty_password_removes_protection(api_client, auth_client, file):
    link = share(auth_client, file["id"], password="open sesame")
    resp = auth_client.patch(f"/api/shares/{link['id']}", {"password": ""}, format="json")
    assert resp.status_code == 200
    assert resp.json()["data"]["hasPassword"] is False
    assert info(api_client, link["token"]).json()["data"]["hasPassword"] is False
    assert content(fetch(api_client, link["token"])) == DATA


def test_adding_a_password_protects_an_open_link(api_client, auth_client, file):
    link = share(auth_client, file["id"])
    assert fetch(api_client, link["token"]).status_code == 200
    auth_client.patch(f"/api/shares/{link['id']}", {"password": "now closed"}, format="json")
    assert_error(fetch(api_client, link["token"]), 401, "SHARE_PASSWORD_REQUIRED")


def test_changing_other_fields_keeps_grants(api_client, auth_client, file):
    link = share(auth_client, file["id"], password="open sesame")
    grant = unlock(api_client, link["token"], "open sesame").json()["data"]["grant"]
    auth_client.patch(f"/api/shares/{link['id']}", {"expiresIn": 7200, "maxDownloads": 10}, format="json")
    assert fetch(api_client, link["token"], grant=grant).status_code == 200


def test_patch_expiry_sets_and_clears_it(auth_client, file):
    link = share(auth_client, file["id"])
    before = timezone.now()
    resp = auth_client.patch(f"/api/shares/{link['id']}", {"expiresIn": 7200}, format="json")
    assert resp.status_code == 200
    data = resp.json()["data"]
    assert set(data) == LINK_FIELDS
    expires = parse_time(data["expiresAt"])
    assert before + timedelta(seconds=7195) <= expires <= timezone.now() + timedelta(seconds=7205)
    assert data["hasPassword"] is False and data["maxDownloads"] is None  # untouched

    resp = auth_client.patch(f"/api/shares/{link['id']}", {"expiresIn": None}, format="json")
    assert resp.json()["data"]["expiresAt"] is None
    assert ShareLink.objects.get(pk=link["id"]).expires_at is None


def test_patch_extending_expiry_brings_an_expired_link_back(api_client, auth_client, file):
    link = share(auth_client, file["id"], expiresIn=60)
    ShareLink.objects.filter(pk=link["id"]).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert_error(fetch(api_client, link["token"]), 410, "SHARE_EXPIRED")
    auth_client.patch(f"/api/shares/{link['id']}", {"expiresIn": 600}, format="json")
    assert fetch(api_client, link["token"]).status_code == 200


def test_patch_max_downloads(api_client, auth_client, file):
    link = share(auth_client, file["id"])
    assert fetch(api_client, link["token"]).status_code == 200
    resp = auth_client.patch(f"/api/shares/{link['id']}", {"maxDownloads": 1}, format="json")
    assert resp.status_code == 200
    assert resp.json()["data"]["maxDownloads"] == 1
    assert resp.json()["data"]["downloadCount"] == 1
    assert_error(fetch(api_client, link["token"]), 410, "SHARE_EXPIRED")

    resp = auth_client.patch(f"/api/shares/{link['id']}", {"maxDownloads": None}, format="json")
    assert resp.json()["data"]["maxDownloads"] is None
    assert fetch(api_client, link["token"]).status_code == 200


@pytest.mark.parametrize("change", [{"expiresIn": 10}, {"maxDownloads": 0}, {"expiresIn": "tomorrow"}])
def test_patch_rejects_bad_values(auth_client, file, change):
    link = share(auth_client, file["id"], maxDownloads=4)
    resp = auth_client.patch(f"/api/shares/{link['id']}", change, format="json")
    assert resp.status_code == 400
    assert resp.json()["error"]["code"] == "VALIDATION_ERROR"
    stored = ShareLink.objects.get(pk=link["id"])
    assert (stored.expires_at, stored.max_downloads) == (None, 4)


@pytest.mark.parametrize("share_id", ["abc", "999999", "1.5"])
def test_patch_unknown_link_is_404(auth_client, share_id):
    resp = auth_client.patch(f"/api/shares/{share_id}", {"maxDownloads": 1}, format="json")
    assert_error(resp, 404, "NOT_FOUND")


# --- revoke ---------------------------------------------------------------------------------

def test_revoke_ends_the_link_at_once(api_client, auth_client, file):
    link = share(auth_client, file["id"], password="open sesame")
    grant = unlock(api_client, link["token"], "open sesame").json()["data"]["grant"]

    resp = auth_client.delete(f"/api/shares/{link['id']}")
    assert resp.status_code == 200
    assert resp.json() == {"success": True, "message": "Share link revoked"}

    assert_error(info(api_client, link["token"]), 404, "NOT_FOUND")
    assert_error(unlock(api_client, link["token"], "open sesame"), 404, "NOT_FOUND")
    assert_error(fetch(api_client, link["token"], grant=grant), 404, "NOT_FOUND")
    listed = auth_client.get(f"/api/files/{file['id']}/share").json()["data"]
    assert [item["id"] for item in listed] == [link["id"]]
    assert listed[0]["revokedAt"] is not None


def test_revoke_leaves_other_links_alone(api_client, auth_client, file):
    doomed = share(auth_client, file["id"])
    kept = share(auth_client, file["id"])
    auth_client.delete(f"/api/shares/{doomed['id']}")
    assert fetch(api_client, kept["token"]).status_code == 200
    assert fetch(api_client, doomed["token"]).status_code == 404


def test_revoked_link_stays_revoked_after_patch(api_client, auth_client, file):
    link = share(auth_client, file["id"])
    auth_client.delete(f"/api/shares/{link['id']}")
    auth_client.patch(f"/api/shares/{link['id']}", {"expiresIn": 3600, "password": "new one"}, format="json")
    assert_error(info(api_client, link["token"]), 404, "NOT_FOUND")
    assert_error(fetch(api_client, link["token"]), 404, "NOT_FOUND")


def test_revoke_unknown_link_is_404(auth_client):
    assert_error(auth_client.delete("/api/shares/424242"), 404, "NOT_FOUND")
    assert_error(auth_client.delete("/api/shares/not-a-number"), 404, "NOT_FOUND")


# --- expiry ----------------------------------------------------------------------------------

def test_expired_link_is_410(api_client, auth_client, file):
    link = share(auth_client, file["id"], expiresIn=3600, password="open sesame")
    grant = unlock(api_client, link["token"], "open sesame").json()["data"]["grant"]
    ShareLink.objects.filter(pk=link["id"]).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert_error(info(api_client, link["token"]), 410, "SHARE_EXPIRED")
    assert_error(unlock(api_client, link["token"], "open sesame"), 410, "SHARE_EXPIRED")
    assert_error(fetch(api_client, link["token"], grant=grant), 410, "SHARE_EXPIRED")


def test_link_before_its_expiry_works(api_client, auth_client, file):
    link = share(auth_client, file["id"], expiresIn=60)
    ShareLink.objects.filter(pk=link["id"]).update(expires_at=timezone.now() + timedelta(seconds=5))
    assert fetch(api_client, link["token"]).status_code == 200


# --- download limit -------------------------------------------------------------------------

def test_max_downloads_then_410(api_client, auth_client, file):
    link = share(auth_client, file["id"], maxDownloads=2)
    for _ in range(2):
        resp = fetch(api_client, link["token"])
        assert resp.status_code == 200
        assert content(resp) == DATA
    assert_error(fetch(api_client, link["token"]), 410, "SHARE_EXPIRED")
    assert_error(info(api_client, link["token"]), 410, "SHARE_EXPIRED")
    assert ShareLink.objects.get(pk=link["id"]).download_count == 2
    listed = auth_client.get(f"/api/files/{file['id']}/share").json()["data"]
    assert listed[0]["downloadCount"] == 2


def test_ranges_cannot_pass_the_limit(api_client, auth_client, file):
    """Slices without byte 0 used to be free: five `bytes=1-` and a `bytes=-15` on a
    limit-1 link were all served. All answers together serve at most one file's worth."""
    link = share(auth_client, file["id"], maxDownloads=1)
    first = fetch(api_client, link["token"], HTTP_RANGE="bytes=1-")
    assert first.status_code == 206 and content(first) == DATA[1:]
    for header in ("bytes=1-", "bytes=1-", "bytes=1-", "bytes=1-", "bytes=-15", "bytes=100-"):
        assert_error(fetch(api_client, link["token"], HTTP_RANGE=header), 410, "SHARE_EXPIRED")
    assert_error(fetch(api_client, link["token"]), 410, "SHARE_EXPIRED")
    # What is left is the one byte that was never sent.
    last = fetch(api_client, link["token"], HTTP_RANGE="bytes=0-0")
    assert last.status_code == 206 and content(last) == DATA[:1]
    assert_error(fetch(api_client, link["token"], HTTP_RANGE="bytes=0-0"), 410, "SHARE_EXPIRED")
    assert_error(info(api_client, link["token"]), 410, "SHARE_EXPIRED")
    assert auth_client.get(f"/api/files/{file['id']}/share").json()["data"][0]["downloadCount"] == 1


def test_a_download_in_ranges_within_the_limit_is_served(api_client, auth_client, file):
    link = share(auth_client, file["id"], maxDownloads=2)
    for _ in range(2):  # a client fetching the file in three slices, twice
        parts = [content(fetch(api_client, link["token"], HTTP_RANGE=header))
                 for header in ("bytes=0-99", "bytes=100-4999", "bytes=5000-")]
        assert b"".join(parts) == DATA
    assert_error(fetch(api_client, link["token"], HTTP_RANGE="bytes=5000-"), 410, "SHARE_EXPIRED")
    assert_error(info(api_client, link["token"]), 410, "SHARE_EXPIRED")


@pytest.mark.django_db(transaction=True)  # closing a response ends the request: its connection closes
def test_a_broken_off_download_is_resumed_on_its_last_allowed_download(api_client, auth_client):
    """The part of a body never handed to the server is not charged: the client resumes
    from what it got, even on the link's last download."""
    data = bytes(range(256)) * 10_000  # 2.4 MiB: three chunks of the stream
    file = upload(auth_client, "big.bin", data, "application/octet-stream")
    link = share(auth_client, file["id"], maxDownloads=1)
    resp = fetch(api_client, link["token"])
    assert resp.status_code == 200
    stream = iter(resp.streaming_content)
    got = next(stream)
    assert 0 < len(got) < len(data)
    resp.close()  # the connection broke: the rest never went out
    rest = fetch(api_client, link["token"], HTTP_RANGE=f"bytes={len(got)}-")
    assert rest.status_code == 206
    assert got + content(rest) == data
    assert_error(fetch(api_client, link["token"], HTTP_RANGE=f"bytes={len(got)}-"), 410, "SHARE_EXPIRED")
    assert_error(fetch(api_client, link["token"], HTTP_RANGE="bytes=-1"), 410, "SHARE_EXPIRED")


def test_range_from_byte_zero_counts(api_client, auth_client, file):
    link = share(auth_client, file["id"], maxDownloads=1)
    resp = fetch(api_client, link["token"], HTTP_RANGE="bytes=0-99")
    assert resp.status_code == 206
    assert content(resp) == DATA[:100]
    assert_error(fetch(api_client, link["token"]), 410, "SHARE_EXPIRED")


@pytest.mark.parametrize("headers", [
    {"HTTP_RANGE": "items=5-"},  # another unit: the whole file is served
    {"HTTP_RANGE": "bytes=5-10, 20-30"},  # several ranges: the whole file is served
    {"HTTP_RANGE": "bytes=-999999"},  # a suffix longer than the file starts at byte 0
    {"HTTP_RANGE": "bytes=5-", "HTTP_IF_RANGE": '"stale-etag"'},  # If-Range mismatch: the whole file
])
def test_every_whole_file_answer_counts(api_client, auth_client, file, headers):
    link = share(auth_client, file["id"], maxDownloads=1)
    resp = fetch(api_client, link["token"], **headers)
    assert resp.status_code in (200, 206)
    assert content(resp) == DATA
    assert ShareLink.objects.get(pk=link["id"]).download_count == 1
    assert_error(fetch(api_client, link["token"], **headers), 410, "SHARE_EXPIRED")


def test_refused_downloads_do_not_count(api_client, auth_client, file):
    link = share(auth_client, file["id"], password="open sesame", maxDownloads=1)
    for _ in range(3):
        fetch(api_client, link["token"])
        fetch(api_client, link["token"], grant="forged")
    grant = unlock(api_client, link["token"], "open sesame").json()["data"]["grant"]
    assert content(fetch(api_client, link["token"], grant=grant)) == DATA


# --- brute force -----------------------------------------------------------------------------

def test_unlock_is_throttled_per_address(api_client, auth_client, file):
    link = share(auth_client, file["id"], password="open sesame")
    for _ in range(10):
        assert unlock(api_client, link["token"], "guess", ip="203.0.113.7").status_code == 401
    resp = unlock(api_client, link["token"], "open sesame", ip="203.0.113.7")
    assert_error(resp, 429, "RATE_LIMITED")
    assert 1 <= int(resp["Retry-After"]) <= 60
    # A forged X-Forwarded-For does not make a new address (no trusted proxies).
    spoofed = unlock(api_client, link["token"], "open sesame", ip="203.0.113.7",
                     HTTP_X_FORWARDED_FOR="198.51.100.1")
    assert spoofed.status_code == 429
    # The throttle counts addresses, not links: another link from there is refused too.
    other = share(auth_client, file["id"], password="open sesame")
    assert unlock(api_client, other["token"], "open sesame", ip="203.0.113.7").status_code == 429
    # Another address is not held back.
    assert unlock(api_client, link["token"], "open sesame", ip="203.0.113.8").status_code == 200


def test_unlock_locks_a_link_after_20_failures_from_any_address(api_client, auth_client, file):
    link = share(auth_client, file["id"], password="open sesame")
    other = share(auth_client, file["id"], password="open sesame")
    for i in range(20):
        resp = unlock(api_client, link["token"], f"guess {i}", ip=f"198.51.100.{i // 5 + 1}")
        assert_error(resp, 401, "SHARE_PASSWORD_INVALID")
    resp = unlock(api_client, link["token"], "open sesame", ip="192.0.2.99")
    assert_error(resp, 429, "TOO_MANY_ATTEMPTS")
    assert int(resp["Retry-After"]) == 600
    # Other links are not locked.
    assert unlock(api_client, other["token"], "open sesame", ip="192.0.2.100").status_code == 200


def test_failures_below_the_link_limit_do_not_lock(api_client, auth_client, file):
    link = share(auth_client, file["id"], password="open sesame")
    for i in range(19):
        unlock(api_client, link["token"], "guess", ip=f"198.51.100.{i // 5 + 1}")
    assert unlock(api_client, link["token"], "open sesame", ip="192.0.2.99").status_code == 200


# --- the file goes away ---------------------------------------------------------------------

def test_deleting_the_file_ends_its_links_and_a_new_upload_never_revives_them(api_client, auth_client, file):
    link = share(auth_client, file["id"])
    assert fetch(api_client, link["token"]).status_code == 200

    resp = auth_client.delete(f"/api/files/{file['id']}/delete")
    assert resp.status_code == 200
    assert_error(info(api_client, link["token"]), 404, "NOT_FOUND")
    assert_error(fetch(api_client, link["token"]), 404, "NOT_FOUND")

    again = upload(auth_client, "report.pdf", b"%PDF brand new content")
    assert again["id"] != file["id"]
    assert_error(info(api_client, link["token"]), 404, "NOT_FOUND")
    assert_error(fetch(api_client, link["token"]), 404, "NOT_FOUND")
    assert auth_client.get(f"/api/files/{again['id']}/share").json() == {"success": True, "data": []}


def test_deleting_the_folder_ends_links_to_files_inside(api_client, auth_client):
    folder = auth_client.post("/api/folders/create", {"name": "Shared"}, format="json").json()["data"]
    resp = auth_client.post("/api/files/upload", {"file": SimpleUploadedFile("in.txt", b"inside"),
                                                  "folderId": folder["id"]}, format="multipart")
    link = share(auth_client, resp.json()["data"]["id"])
    assert fetch(api_client, link["token"]).status_code == 200
    assert auth_client.delete(f"/api/folders/{folder['id']}/delete").status_code == 200
    assert_error(fetch(api_client, link["token"]), 404, "NOT_FOUND")


def test_emptying_the_trash_ends_links(api_client, auth_client, file):
    link = share(auth_client, file["id"])
    auth_client.delete(f"/api/files/{file['id']}/delete")
    resp = auth_client.delete(f"/api/trash/{file['id']}")
    assert resp.status_code in (200, 204)
    upload(auth_client, "report.pdf", DATA)  # same name, same bytes
    assert_error(info(api_client, link["token"]), 404, "NOT_FOUND")
    assert_error(fetch(api_client, link["token"]), 404, "NOT_FOUND")


# --- another user -----------------------------------------------------------------------------

def test_other_user_cannot_share_someone_elses_file(other_client, file):
    resp = other_client.post(f"/api/files/{file['id']}/share", {}, format="json")
    assert_error(resp, 404, "NOT_FOUND")
    assert not ShareLink.objects.exists()


def test_other_user_cannot_list_someone_elses_links(other_client, auth_client, file):
    share(auth_client, file["id"])
    resp = other_client.get(f"/api/files/{file['id']}/share")
    assert_error(resp, 404, "NOT_FOUND")
    assert b"token" not in resp.content


def test_other_user_cannot_change_or_revoke_someone_elses_link(api_client, other_client, auth_client, file):
    link = share(auth_client, file["id"], maxDownloads=5)
    resp = other_client.patch(f"/api/shares/{link['id']}", {"password": "mine now", "maxDownloads": 1},
                              format="json")
    assert_error(resp, 404, "NOT_FOUND")
    assert_error(other_client.delete(f"/api/shares/{link['id']}"), 404, "NOT_FOUND")

    stored = ShareLink.objects.get(pk=link["id"])
    assert (stored.password_hash, stored.max_downloads, stored.revoked_at) == ("", 5, None)
    assert content(fetch(api_client, link["token"])) == DATA


def test_other_user_sees_the_same_404_as_for_a_missing_link(other_client, auth_client, file):
    link = share(auth_client, file["id"])
    theirs = other_client.delete(f"/api/shares/{link['id']}")
    missing = other_client.delete("/api/shares/987654")
    assert theirs.status_code == missing.status_code == 404
    assert theirs.json() == missing.json()


@pytest.mark.django_db(transaction=True)  # closing a response ends the request: its connection closes
def test_an_answer_whose_body_never_started_is_given_back(api_client, auth_client, file):
    link = share(auth_client, file["id"], maxDownloads=1)
    fetch(api_client, link["token"]).close()  # the client left before any of the body
    assert content(fetch(api_client, link["token"])) == DATA
    assert_error(fetch(api_client, link["token"], HTTP_RANGE="bytes=1-"), 410, "SHARE_EXPIRED")


def test_answers_without_byte_zero_do_not_begin_a_download(api_client, auth_client, file):
    link = share(auth_client, file["id"], maxDownloads=1)
    first = fetch(api_client, link["token"], HTTP_RANGE="bytes=5-")
    etag = first["ETag"]
    assert fetch(api_client, link["token"], HTTP_IF_NONE_MATCH=etag).status_code == 304
    assert fetch(api_client, link["token"], HTTP_RANGE=f"bytes={len(DATA)}-").status_code == 416
    assert ShareLink.objects.get(pk=link["id"]).download_count == 0
    # Neither a 304 nor a 416 used any of the link's bytes: the first five are still there.
    assert content(fetch(api_client, link["token"], HTTP_RANGE="bytes=0-4")) + content(first) == DATA
    assert ShareLink.objects.get(pk=link["id"]).download_count == 1


def test_head_request_does_not_use_up_a_download(auth_client, api_client):
    from django.core.files.uploadedfile import SimpleUploadedFile

    file = auth_client.post("/api/files/upload", {"file": SimpleUploadedFile("h.txt", b"head")},
                            format="multipart").json()["data"]
    link = auth_client.post(f"/api/files/{file['id']}/share", {"maxDownloads": 1}, format="json").json()["data"]
    path = f"/api/public/shares/{link['token']}/download"
    assert api_client.head(path).status_code == 200
    resp = api_client.get(path)
    assert resp.status_code == 200 and b"".join(resp.streaming_content) == b"head"
    assert api_client.get(path).status_code == 410
