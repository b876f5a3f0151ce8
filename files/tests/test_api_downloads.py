"""Downloads through HTTP: the whole body, ranges, conditional requests, a safe
Content-Disposition and never an inline page; versions; other users and bad ids."""

import hashlib
from datetime import timedelta
from email.utils import parsedate_to_datetime
from urllib.parse import quote

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from django.utils.http import http_date

pytestmark = pytest.mark.django_db

DATA = bytes(range(256)) * 4 + b"0123456789"  # 1,034 bytes, every byte value
SIZE = len(DATA)


class AnyText:
    """Equal to any non-empty string: error messages may be reworded, codes may not."""

    def __eq__(self, other):
        return isinstance(other, str) and other != ""

    def __repr__(self):
        return "<any text>"


def upload(client, name="data.bin", data=DATA, content_type="application/octet-stream") -> dict:
    resp = client.post("/api/files/upload", {"file": SimpleUploadedFile(name, data, content_type=content_type)},
                       format="multipart")
    assert resp.status_code == 201, resp.content
    return resp.json()["data"]


def content(resp) -> bytes:
    return b"".join(resp.streaming_content) if resp.streaming else resp.content


def get(client, file_id, query="", **headers):
    return client.get(f"/api/files/{file_id}/download{query}", **headers)


def assert_error(resp, status: int, code: str):
    assert resp.status_code == status, (resp.status_code, resp.content)
    assert resp.json() == {"success": False, "error": {"code": code, "message": AnyText()}}


@pytest.fixture
def file(auth_client):
    return upload(auth_client)


# --- the whole file ------------------------------------------------------------------------

def test_full_download(auth_client, file):
    resp = get(auth_client, file["id"])
    assert resp.status_code == 200
    assert content(resp) == DATA
    assert resp["Content-Length"] == str(SIZE)
    assert resp["Content-Type"] == "application/octet-stream"
    assert resp["Accept-Ranges"] == "bytes"
    assert resp["ETag"] == f'"{hashlib.sha256(DATA).hexdigest()}"'
    assert resp["X-Content-Type-Options"] == "nosniff"
    assert resp["Content-Disposition"] == 'attachment; filename="data.bin"'
    assert "Content-Range" not in resp


def test_last_modified_is_the_upload_time(auth_client, file):
    before = timezone.now().replace(microsecond=0)
    resp = get(auth_client, file["id"])
    modified = parsedate_to_datetime(resp["Last-Modified"])
    assert before - timedelta(seconds=60) <= modified <= timezone.now()


def test_download_serves_the_declared_type(auth_client):
    png = b"\x89PNG\r\n\x1a\n" + bytes(100)
    image = upload(auth_client, "pic.png", png, "image/png")
    resp = get(auth_client, image["id"])
    assert resp["Content-Type"] == "image/png"
    assert resp["Content-Disposition"] == 'attachment; filename="pic.png"'
    assert content(resp) == png


def test_empty_file(auth_client):
    empty = upload(auth_client, "empty.txt", b"", "text/plain")
    resp = get(auth_client, empty["id"])
    assert resp.status_code == 200
    assert content(resp) == b""
    assert resp["Content-Length"] == "0"
    assert resp["ETag"] == f'"{hashlib.sha256(b"").hexdigest()}"'


def test_empty_file_ignores_a_range(auth_client):
    empty = upload(auth_client, "empty.txt", b"", "text/plain")
    resp = get(auth_client, empty["id"], HTTP_RANGE="bytes=0-")
    assert resp.status_code == 200
    assert content(resp) == b""


def test_large_file_streams_whole(auth_client):
    big = bytes(range(251)) * 9000  # ~2.2 MB, more than one read chunk
    node = upload(auth_client, "big.bin", big)
    resp = get(auth_client, node["id"])
    assert resp.streaming
    body = content(resp)
    assert len(body) == len(big) and body == big
    part = get(auth_client, node["id"], HTTP_RANGE="bytes=1048570-1048589")
    assert content(part) == big[1048570:1048590]


def test_download_follows_the_current_version(auth_client, file):
    upload(auth_client, "data.bin", b"second content")
    resp = get(auth_client, file["id"])
    assert content(resp) == b"second content"
    assert resp["ETag"] == f'"{hashlib.sha256(b"second content").hexdigest()}"'


# --- Content-Disposition --------------------------------------------------------------------

@pytest.mark.parametrize("name, expected", [
    ('say "hi".txt', r'attachment; filename="say \"hi\".txt"'),
    ("a;b=c.txt", 'attachment; filename="a;b=c.txt"'),
    ('x"; filename="evil.exe', r'attachment; filename="x\"; filename=\"evil.exe"'),
    ('résumé "final".pdf', "attachment; filename*=utf-8''" + quote('résumé "final".pdf')),
    ("写真 2024.jpg", "attachment; filename*=utf-8''" + quote("写真 2024.jpg")),
])
def test_disposition_is_safe_for_nasty_names(auth_client, name, expected):
    # Given as the `name` field: a multipart filename with quotes would be mangled by the test client.
    resp = auth_client.post("/api/files/upload", {"file": SimpleUploadedFile("upload.bin", b"bytes"),
                                                  "name": name}, format="multipart")
    assert resp.status_code == 201, resp.content
    node = resp.json()["data"]
    assert node["name"] == name
    resp = get(auth_client, node["id"])
    assert resp.status_code == 200
    assert resp["Content-Disposition"] == expected
    assert "\r" not in resp["Content-Disposition"] and "\n" not in resp["Content-Disposition"]


def test_disposition_unicode_is_percent_encoded(auth_client):
    node = upload(auth_client, 'résumé "final".pdf', b"%PDF", "application/pdf")
    header = get(auth_client, node["id"])["Content-Disposition"]
    assert header.isascii()
    assert header.startswith("attachment; filename*=utf-8''")
    assert '"' not in header and ";" not in header.split("; ", 1)[1]


@pytest.mark.parametrize("name", ["line\nbreak.txt", "carriage\rreturn.txt", "tab\x00nul.txt"])
def test_control_characters_are_refused_at_upload(auth_client, name):
    resp = auth_client.post("/api/files/upload", {"file": SimpleUploadedFile("x.txt", b"x"), "name": name},
                            format="multipart")
    assert resp.status_code == 400
    assert resp.json()["success"] is False


# --- ranges ------------------------------------------------------------------------------------

def test_range_first_bytes(auth_client, file):
    resp = get(auth_client, file["id"], HTTP_RANGE="bytes=0-9")
    assert resp.status_code == 206
    assert content(resp) == DATA[:10]
    assert resp["Content-Range"] == f"bytes 0-9/{SIZE}"
    assert resp["Content-Length"] == "10"
    assert resp["Accept-Ranges"] == "bytes"
    assert resp["ETag"] == f'"{hashlib.sha256(DATA).hexdigest()}"'


def test_range_in_the_middle(auth_client, file):
    resp = get(auth_client, file["id"], HTTP_RANGE="bytes=300-511")
    assert resp.status_code == 206
    assert content(resp) == DATA[300:512]
    assert resp["Content-Range"] == f"bytes 300-511/{SIZE}"


def test_suffix_range(auth_client, file):
    resp = get(auth_client, file["id"], HTTP_RANGE="bytes=-5")
    assert resp.status_code == 206
    assert content(resp) == DATA[-5:] == b"56789"
    assert resp["Content-Range"] == f"bytes {SIZE - 5}-{SIZE - 1}/{SIZE}"
    assert resp["Content-Length"] == "5"


def test_suffix_longer_than_the_file_is_the_whole_file(auth_client, file):
    resp = get(auth_client, file["id"], HTTP_RANGE=f"bytes=-{SIZE * 10}")
    assert resp.status_code == 206
    assert content(resp) == DATA
    assert resp["Content-Range"] == f"bytes 0-{SIZE - 1}/{SIZE}"


def test_open_range(auth_client, file):
    resp = get(auth_client, file["id"], HTTP_RANGE="bytes=10-")
    assert resp.status_code == 206
    assert content(resp) == DATA[10:]
    assert resp["Content-Range"] == f"bytes 10-{SIZE - 1}/{SIZE}"
    assert resp["Content-Length"] == str(SIZE - 10)


def test_range_end_past_the_file_is_clamped(auth_client, file):
    resp = get(auth_client, file["id"], HTTP_RANGE=f"bytes={SIZE - 3}-{SIZE + 1000}")
    assert resp.status_code == 206
    assert content(resp) == DATA[-3:]
    assert resp["Content-Range"] == f"bytes {SIZE - 3}-{SIZE - 1}/{SIZE}"


def test_last_byte(auth_client, file):
    resp = get(auth_client, file["id"], HTTP_RANGE=f"bytes={SIZE - 1}-{SIZE - 1}")
    assert resp.status_code == 206
    assert content(resp) == DATA[-1:]


@pytest.mark.parametrize("header", ["bytes=999999-", f"bytes={SIZE}-", f"bytes={SIZE}-{SIZE + 10}", "bytes=-0"])
def test_unsatisfiable_range_is_416(auth_client, file, header):
    resp = get(auth_client, file["id"], HTTP_RANGE=header)
    assert resp.status_code == 416
    assert resp["Content-Range"] == f"bytes */{SIZE}"
    assert content(resp) == b""


@pytest.mark.parametrize("header", ["items=0-9", "bytes=0-1,5-6", "bytes=abc", "bytes=-"])
def test_ranges_it_does_not_serve_give_the_whole_file(auth_client, file, header):
    resp = get(auth_client, file["id"], HTTP_RANGE=header)
    assert resp.status_code == 200
    assert content(resp) == DATA
    assert "Content-Range" not in resp


def test_if_range_match_serves_the_range(auth_client, file):
    etag = get(auth_client, file["id"])["ETag"]
    resp = get(auth_client, file["id"], HTTP_RANGE="bytes=0-9", HTTP_IF_RANGE=etag)
    assert resp.status_code == 206
    assert content(resp) == DATA[:10]


def test_if_range_mismatch_serves_the_whole_file(auth_client, file):
    resp = get(auth_client, file["id"], HTTP_RANGE="bytes=0-9", HTTP_IF_RANGE='"0000"')
    assert resp.status_code == 200
    assert content(resp) == DATA
    assert "Content-Range" not in resp


def test_if_range_after_a_new_version_serves_the_new_whole_file(auth_client, file):
    old_etag = get(auth_client, file["id"])["ETag"]
    upload(auth_client, "data.bin", b"changed underneath")
    resp = get(auth_client, file["id"], HTTP_RANGE="bytes=5-", HTTP_IF_RANGE=old_etag)
    assert resp.status_code == 200
    assert content(resp) == b"changed underneath"


# --- conditional GET -------------------------------------------------------------------------

def test_if_none_match_with_the_etag_is_304(auth_client, file):
    etag = get(auth_client, file["id"])["ETag"]
    resp = get(auth_client, file["id"], HTTP_IF_NONE_MATCH=etag)
    assert resp.status_code == 304
    assert content(resp) == b""
    assert resp["ETag"] == etag


def test_if_none_match_in_a_list_and_star(auth_client, file):
    etag = get(auth_client, file["id"])["ETag"]
    assert get(auth_client, file["id"], HTTP_IF_NONE_MATCH=f'"abc", {etag}').status_code == 304
    assert get(auth_client, file["id"], HTTP_IF_NONE_MATCH="*").status_code == 304


def test_if_none_match_compares_weakly(auth_client, file):
    # A proxy that compresses turns the ETag weak; the client sends back W/"...".
    etag = get(auth_client, file["id"])["ETag"]
    assert get(auth_client, file["id"], HTTP_IF_NONE_MATCH=f"W/{etag}").status_code == 304
    assert get(auth_client, file["id"], HTTP_IF_NONE_MATCH='W/"other"').status_code == 200


def test_if_range_compares_strongly(auth_client, file):
    etag = get(auth_client, file["id"])["ETag"]
    resp = get(auth_client, file["id"], HTTP_RANGE="bytes=0-9", HTTP_IF_RANGE=f"W/{etag}")
    assert resp.status_code == 200
    assert content(resp) == DATA


def test_if_none_match_with_another_etag_is_200(auth_client, file):
    resp = get(auth_client, file["id"], HTTP_IF_NONE_MATCH='"not-the-hash"')
    assert resp.status_code == 200
    assert content(resp) == DATA


def test_old_etag_after_a_new_version_is_200(auth_client, file):
    etag = get(auth_client, file["id"])["ETag"]
    upload(auth_client, "data.bin", b"v2 bytes")
    resp = get(auth_client, file["id"], HTTP_IF_NONE_MATCH=etag)
    assert resp.status_code == 200
    assert content(resp) == b"v2 bytes"


def test_if_modified_since_is_304(auth_client, file):
    last_modified = get(auth_client, file["id"])["Last-Modified"]
    resp = get(auth_client, file["id"], HTTP_IF_MODIFIED_SINCE=last_modified)
    assert resp.status_code == 304
    assert content(resp) == b""
    later = http_date((timezone.now() + timedelta(hours=1)).timestamp())
    assert get(auth_client, file["id"], HTTP_IF_MODIFIED_SINCE=later).status_code == 304


def test_if_modified_since_before_the_upload_is_200(auth_client, file):
    earlier = http_date((timezone.now() - timedelta(days=1)).timestamp())
    resp = get(auth_client, file["id"], HTTP_IF_MODIFIED_SINCE=earlier)
    assert resp.status_code == 200
    assert content(resp) == DATA


def test_if_none_match_wins_over_if_modified_since(auth_client, file):
    last_modified = get(auth_client, file["id"])["Last-Modified"]
    resp = get(auth_client, file["id"], HTTP_IF_NONE_MATCH='"other"', HTTP_IF_MODIFIED_SINCE=last_modified)
    assert resp.status_code == 200


def test_garbage_if_modified_since_is_ignored(auth_client, file):
    assert get(auth_client, file["id"], HTTP_IF_MODIFIED_SINCE="yesterday-ish").status_code == 200


# --- inline and active content ---------------------------------------------------------------

def test_inline_image(auth_client):
    image = upload(auth_client, "pic.jpg", b"\xff\xd8\xff\xe0 jpeg", "image/jpeg")
    for flag in ("1", "true", "yes"):
        resp = get(auth_client, image["id"], f"?inline={flag}")
        assert resp.status_code == 200
        assert resp["Content-Disposition"] == 'inline; filename="pic.jpg"'
        assert resp["Content-Type"] == "image/jpeg"
        assert resp["X-Content-Type-Options"] == "nosniff"
    assert get(auth_client, image["id"], "?inline=0")["Content-Disposition"].startswith("attachment;")


@pytest.mark.parametrize("name, data, declared", [
    ("page.html", b"<html><script>alert(document.cookie)</script></html>", "text/html"),
    ("page.html", b"<html><script>alert(1)</script></html>", "application/octet-stream"),  # guessed by name
    ("page.htm", b"<script>alert(1)</script>", "text/html; charset=utf-8"),
    ("logo.svg", b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>', "image/svg+xml"),
    ("logo.svg", b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>', "application/octet-stream"),
    ("page.xhtml", b"<html xmlns='http://www.w3.org/1999/xhtml'/>", "application/xhtml+xml"),
    ("notes.txt", b"<script>alert(1)</script>", "TEXT/HTML"),  # the declared type wins over the name
])
def test_active_content_is_never_a_page(auth_client, name, data, declared):
    node = upload(auth_client, name, data, declared)
    for query in ("", "?inline=1"):
        resp = get(auth_client, node["id"], query)
        assert resp.status_code == 200
        assert content(resp) == data
        assert resp["Content-Disposition"].startswith("attachment;")
        assert "sandbox" in resp["Content-Security-Policy"]
        assert "html" not in resp["Content-Type"] and "svg" not in resp["Content-Type"]
        assert resp["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize("declared", ["image/png,text/html,foo", "image/jpeg, text/xml", "image/gif,text/html;q=1",
                                      "image/png,application/xml"])
def test_a_declared_type_list_is_never_served(auth_client, declared):
    # A browser takes the last valid type of a list: "image/png,text/html,foo" renders as HTML.
    node = upload(auth_client, "pic.png", b"<html><script>alert(1)</script></html>", declared)
    resp = get(auth_client, node["id"], "?inline=1")
    assert resp.status_code == 200
    assert resp["Content-Type"] == "application/octet-stream"
    assert resp["Content-Disposition"].startswith("attachment;")


def test_active_content_range_is_not_a_page_either(auth_client):
    node = upload(auth_client, "page.html", b"<script>alert(1)</script>", "text/html")
    resp = get(auth_client, node["id"], "?inline=1", HTTP_RANGE="bytes=0-7")
    assert resp.status_code == 206
    assert resp["Content-Type"] == "application/octet-stream"
    assert resp["Content-Disposition"].startswith("attachment;")
    assert "sandbox" in resp["Content-Security-Policy"]


def test_inline_is_refused_for_types_a_browser_might_run(auth_client):
    node = upload(auth_client, "data.json", b'{"a": 1}', "application/json")
    resp = get(auth_client, node["id"], "?inline=1")
    assert resp["Content-Disposition"] == 'attachment; filename="data.json"'


# --- versions ----------------------------------------------------------------------------------

def test_version_download_returns_the_old_bytes(auth_client, file):
    second = upload(auth_client, "data.bin", b"the second version")
    assert second["id"] == file["id"] and second["version"] == 2

    old = auth_client.get(f"/api/files/{file['id']}/versions/1/download")
    assert old.status_code == 200
    assert content(old) == DATA
    assert old["ETag"] == f'"{hashlib.sha256(DATA).hexdigest()}"'
    assert old["Content-Disposition"] == 'attachment; filename="data.bin"'

    new = auth_client.get(f"/api/files/{file['id']}/versions/2/download")
    assert content(new) == b"the second version"
    assert content(get(auth_client, file["id"])) == b"the second version"


def test_version_download_supports_ranges(auth_client, file):
    upload(auth_client, "data.bin", b"the second version")
    resp = auth_client.get(f"/api/files/{file['id']}/versions/1/download", HTTP_RANGE="bytes=-10")
    assert resp.status_code == 206
    assert content(resp) == DATA[-10:]


@pytest.mark.parametrize("number", ["0", "3", "abc", "-1"])
def test_unknown_version_is_404(auth_client, file, number):
    upload(auth_client, "data.bin", b"v2")
    resp = auth_client.get(f"/api/files/{file['id']}/versions/{number}/download")
    assert_error(resp, 404, "NOT_FOUND")


# --- other users, bad ids, no token -------------------------------------------------------------

def test_other_user_gets_404(other_client, auth_client, file):
    upload(auth_client, "data.bin", b"v2")
    assert_error(get(other_client, file["id"]), 404, "NOT_FOUND")
    assert_error(get(other_client, file["id"], HTTP_RANGE="bytes=0-9"), 404, "NOT_FOUND")
    for number in (1, 2):
        resp = other_client.get(f"/api/files/{file['id']}/versions/{number}/download")
        assert_error(resp, 404, "NOT_FOUND")


def test_other_users_404_looks_like_a_missing_file(other_client, file):
    theirs = get(other_client, file["id"])
    missing = get(other_client, "00000000-0000-0000-0000-000000000000")
    assert theirs.status_code == missing.status_code == 404
    assert theirs.json() == missing.json()


def test_other_user_with_the_same_bytes_still_gets_404(other_client, file):
    mine = upload(other_client, "data.bin", DATA)  # same content, stored once
    assert mine["id"] != file["id"]
    assert content(get(other_client, mine["id"])) == DATA
    assert_error(get(other_client, file["id"]), 404, "NOT_FOUND")


@pytest.mark.parametrize("file_id", ["not-a-uuid", "1", "../etc/passwd", "00000000-0000-0000-0000-000000000000"])
def test_bad_id_is_404_in_the_envelope(auth_client, file_id):
    resp = get(auth_client, quote(file_id, safe=""))
    assert_error(resp, 404, "NOT_FOUND")
    resp = auth_client.get(f"/api/files/{quote(file_id, safe='')}/versions/1/download")
    assert_error(resp, 404, "NOT_FOUND")


def test_folder_id_is_404(auth_client):
    folder = auth_client.post("/api/folders/create", {"name": "Docs"}, format="json").json()["data"]
    assert_error(get(auth_client, folder["id"]), 404, "NOT_FOUND")


def test_trashed_file_is_404(auth_client, file):
    assert auth_client.delete(f"/api/files/{file['id']}/delete").status_code == 200
    assert_error(get(auth_client, file["id"]), 404, "NOT_FOUND")
    assert_error(auth_client.get(f"/api/files/{file['id']}/versions/1/download"), 404, "NOT_FOUND")


def test_no_token_is_401(api_client, file):
    resp = get(api_client, file["id"])
    assert resp.status_code == 401
    assert resp.json() == {"success": False, "error": {"code": "NO_TOKEN", "message": AnyText()}}
    resp = api_client.get(f"/api/files/{file['id']}/versions/1/download")
    assert_error(resp, 401, "NO_TOKEN")


def test_bad_token_is_401(api_client, file):
    api_client.credentials(HTTP_AUTHORIZATION="Bearer not.a.jwt")
    assert_error(get(api_client, file["id"]), 401, "INVALID_TOKEN")
