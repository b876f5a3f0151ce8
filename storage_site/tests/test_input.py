"""Input checked at the edge (docs/input.md): control characters, deep JSON and integers
past their column are a 400 in the calling API's error shape, before any query with
them runs, on SQLite and PostgreSQL alike (PostgreSQL refuses a NUL in text and a number
past its column with a DataError, which was a 500)."""

import json

import pytest

from backups.tests.helpers import phone
from files.tests.helpers import upload

pytestmark = pytest.mark.django_db

NUL = "a\x00b"


def _primary(resp, code: str) -> dict:
    assert resp.status_code == 400, resp.content
    body = resp.json()
    assert body["success"] is False and body["error"]["code"] == code, body
    return body


def _fileago(resp) -> dict:
    assert resp.status_code == 400, resp.content
    body = resp.json()
    assert body["status"] == "error" and body["msg"], body
    return body


def _streamvault(resp, code: str) -> dict:
    assert resp.status_code == 400, resp.content
    body = resp.json()
    assert body["code"] == code and body["message"], body
    return body


# --- control characters ------------------------------------------------------------------

@pytest.mark.parametrize("url, params", [
    ("/api/search", {"q": NUL}),
    ("/api/files/list", {"search": NUL}),
    ("/api/files/list", {NUL: "x"}),
    ("/api/search", {"q": "tab\there"}),
    ("/api/search", {"q": "line\nfeed"}),
])
def test_a_control_character_in_a_query_parameter_is_400_before_any_query(auth_client, url, params,
                                                                         django_assert_num_queries):
    with django_assert_num_queries(0):
        resp = auth_client.get(url, params)
    _primary(resp, "INVALID_CHARACTERS")


def test_fileago_key_with_a_nul_is_400_in_fileago_shape(auth_client, django_assert_num_queries):
    file_id = upload(auth_client, "a.txt")["id"]
    with django_assert_num_queries(0):
        resp = auth_client.get(f"/api/nodes/{file_id}/download", {"fileaccesskey": NUL})
    _fileago(resp)


def test_streamvault_query_with_a_nul_is_400_in_streamvault_shape(auth_client):
    _streamvault(auth_client.get("/storage/api/v3/chunk_status/", {"upload_id": NUL}), "INVALID_CHARACTERS")


@pytest.mark.parametrize("url, shape", [
    ("/api/files/a%00b/info", "primary"),
    ("/api/nodes/a%00b/download", "fileago"),
    ("/storage/api/v3/files/a%00b/", "streamvault"),
    ("/api/mobile/devices/a%01b/settings", "primary"),
])
def test_a_control_character_in_a_path_parameter_is_400(auth_client, url, shape):
    resp = auth_client.get(url)
    if shape == "fileago":
        _fileago(resp)
    elif shape == "streamvault":
        _streamvault(resp, "INVALID_CHARACTERS")
    else:
        _primary(resp, "INVALID_CHARACTERS")


def test_a_nul_in_a_header_is_400(auth_client, api_client):
    _primary(auth_client.get("/api/files/list", HTTP_X_CLIENT_HINT=NUL), "INVALID_CHARACTERS")
    # The sign-in stores the User-Agent with the session; the Authorization header is a token.
    _primary(api_client.post("/api/login", {"phone": "+919812345678"}, format="json", HTTP_USER_AGENT=NUL),
             "INVALID_CHARACTERS")
    _primary(api_client.get("/api/files/list", HTTP_AUTHORIZATION="Bearer a\x00b"), "INVALID_CHARACTERS")


@pytest.mark.parametrize("body", [
    {"name": NUL},
    {"name": "ok", "parentId": None, "extra": [{"deep": ["x", {"deeper": NUL}]}]},
    {"name": "ok", NUL: 1},
    {"name": "lone surrogate \ud800"},
])
def test_a_control_character_anywhere_in_a_json_body_is_400(auth_client, body):
    raw = json.dumps(body)  # \u0000 escapes, as a client sends them
    _primary(auth_client.post("/api/folders/create", raw, content_type="application/json"), "INVALID_CHARACTERS")
    assert auth_client.get("/api/files/list").json()["data"]["items"] == []


@pytest.mark.parametrize("name", ["two\nlines", "bell\x07", "tab\tname"])
def test_other_control_characters_in_a_body_meet_the_field_rule(auth_client, name):
    # Free text in a body may span lines; a name meets the name rule (no control character).
    _primary(auth_client.post("/api/folders/create", {"name": name}, format="json"), "INVALID_NAME")


def test_a_nul_in_a_form_field_is_400(auth_client):
    resp = auth_client.post("/api/folders/create", {"name": NUL}, format="multipart")
    _primary(resp, "INVALID_CHARACTERS")
    resp = auth_client.post("/api/folders/create", "name=a%00b", content_type="application/x-www-form-urlencoded")
    _primary(resp, "INVALID_CHARACTERS")


def test_the_unauthenticated_sign_ins_refuse_a_nul(api_client):
    _primary(api_client.post("/api/login", {"phone": NUL}, format="json"), "INVALID_CHARACTERS")
    _primary(api_client.post("/api/mobile/auth/register", {"email": NUL, "password": "x"}, format="json"),
             "INVALID_CHARACTERS")
    _streamvault(api_client.post("/storage/api/v5/login/", {"email": NUL, "password": "x"}, format="json"),
                 "INVALID_CHARACTERS")
    _fileago(api_client.post("/auth", {"username": NUL, "password": "x"}, format="json"))
    # FileAgo's own examples send JSON with a form content type.
    _fileago(api_client.post("/auth", json.dumps({"username": NUL, "password": "x"}),
                             content_type="application/x-www-form-urlencoded"))


# --- deep JSON ---------------------------------------------------------------------------

def _nested(depth: int) -> str:
    return '{"a":' * depth + "1" + "}" * depth


@pytest.mark.parametrize("url, shape", [
    ("/api/login", "primary"),
    ("/api/mobile/auth/register", "primary"),
    ("/storage/api/v5/login/", "streamvault"),
    ("/auth", "fileago"),
])
@pytest.mark.parametrize("body", ["[" * 1000 + "]" * 1000, _nested(1000), "[" * 100_000])
def test_deep_json_is_400_malformed_on_the_sign_ins(api_client, url, shape, body):
    resp = api_client.post(url, body, content_type="application/json")
    if shape == "fileago":
        _fileago(resp)
    elif shape == "streamvault":
        _streamvault(resp, "MALFORMED_REQUEST")
    else:
        _primary(resp, "MALFORMED_REQUEST")


def test_deep_json_is_400_when_signed_in(auth_client):
    _primary(auth_client.post("/api/folders/create", _nested(65), content_type="application/json"),
             "MALFORMED_REQUEST")
    _primary(auth_client.post("/api/folders/create", '{"name": "x", "a": ' + "[" * 500 + "]" * 500 + "}",
                              content_type="application/json"), "MALFORMED_REQUEST")


def test_json_at_the_depth_limit_and_brackets_inside_strings_are_fine(auth_client):
    body = '{"name": "[[[[{{{{", "x": ' + "[" * 63 + "]" * 63 + "}"
    resp = auth_client.post("/api/folders/create", body, content_type="application/json")
    assert resp.status_code == 201, resp.content
    body = json.dumps({"name": "[" * 200})
    assert auth_client.post("/api/folders/create", body, content_type="application/json").status_code == 201


# --- integers ----------------------------------------------------------------------------

HUGE = 2**64
DIGITS_31 = int("9" * 31)


@pytest.mark.parametrize("value", [HUGE, DIGITS_31, -HUGE, "9" * 31, 1.5, 1e3, "1e3", "8.3e-07", True, "1.0"])
def test_megavault_and_layoodstorage_max_cache_size_refuse_bad_numbers(user, auth_client, value):
    a = phone(user)
    _primary(a.put(f"/api/mobile/devices/{a.device}/settings", {"maxCacheSize": value}, format="json"),
             "VALIDATION_ERROR")
    _primary(auth_client.put(f"/api/devices/{a.device}/settings", {"maxCacheSize": value}, format="json"),
             "VALIDATION_ERROR")


def test_max_cache_size_takes_a_bigint(user):
    a = phone(user)
    resp = a.put(f"/api/mobile/devices/{a.device}/settings", {"maxCacheSize": 2**63 - 1}, format="json")
    assert resp.status_code == 200 and resp.json()["data"]["settings"]["maxCacheSize"] == 2**63 - 1
    resp = a.put(f"/api/mobile/devices/{a.device}/settings", {"maxCacheSize": "1024"}, format="json")
    assert resp.status_code == 200 and resp.json()["data"]["settings"]["maxCacheSize"] == 1024


@pytest.mark.parametrize("field, value", [("totalFiles", HUGE), ("totalFiles", 2**31), ("totalBytes", HUGE),
                                          ("totalFiles", 2.5)])
def test_bulk_upload_start_refuses_numbers_past_their_column(auth_client, field, value):
    _primary(auth_client.post("/api/bulk-upload/start", {field: value}, format="json"), "VALIDATION_ERROR")
    assert auth_client.post("/api/bulk-upload/start", {field: 2**31 - 1}, format="json").status_code == 201


@pytest.mark.parametrize("field, value", [("expectedBytes", HUGE), ("expectedFiles", 2**31),
                                          ("expectedFiles", "1e3")])
def test_backup_start_refuses_numbers_past_their_column(user, field, value):
    a = phone(user)
    _primary(a.post("/api/backup/start", {"deviceId": a.device, field: value}, format="json"), "VALIDATION_ERROR")


@pytest.mark.parametrize("revision", ["8.3e-07", "1.0", "9" * 31, "2147483648", "-1", "abc"])
def test_fileago_revision_must_be_a_plain_number(auth_client, revision):
    file_id = upload(auth_client, "a.txt", b"one")["id"]
    _fileago(auth_client.get(f"/api/nodes/{file_id}/download", {"revision": revision}))
    resp = auth_client.get(f"/api/nodes/{file_id}/download", {"revision": "1"})
    assert resp.status_code == 200 and b"".join(resp.streaming_content) == b"one"


def test_streamvault_chunk_number_past_its_column_is_400(auth_client):
    from django.core.files.uploadedfile import SimpleUploadedFile

    init = auth_client.post("/storage/api/v3/chunk_init/", {"file_name": "a.bin", "total_chunks": 2}, format="json")
    assert init.status_code in (200, 201), init.content
    resp = auth_client.post("/storage/api/v3/chunk_upload/", {
        "upload_id": init.json()["upload_id"], "chunk_number": str(2**31),
        "file": SimpleUploadedFile("c", b"x")}, format="multipart")
    _streamvault(resp, "VALIDATION_ERROR")


def test_every_integer_input_of_the_schema_is_bounded(api_client):
    """The sweep: every integer a client can send (request bodies, query and path
    parameters) carries bounds a 64-bit column holds, so a new unbounded field fails here."""
    schema = api_client.get("/api/schema/?format=json").json()
    components = schema["components"]["schemas"]
    unbounded = []

    def visit(node, where, seen=frozenset()):
        if isinstance(node, dict):
            if "$ref" in node:
                name = node["$ref"].rsplit("/", 1)[-1]
                if name not in seen:
                    visit(components[name], f"{where}>{name}", seen | {name})
                return
            if node.get("type") == "integer" and not node.get("readOnly"):
                if not (-(2**63) <= node.get("minimum", -(2**64)) and node.get("maximum", 2**64) <= 2**63 - 1):
                    unbounded.append(where)
            for key, value in node.items():
                visit(value, f"{where}.{key}", seen)
        elif isinstance(node, list):
            for item in node:
                visit(item, where, seen)

    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            if not isinstance(operation, dict):
                continue
            for parameter in operation.get("parameters", []):
                visit(parameter.get("schema", {}), f"{method.upper()} {path} ?{parameter['name']}")
            for media, content in operation.get("requestBody", {}).get("content", {}).items():
                visit(content.get("schema", {}), f"{method.upper()} {path} body")
    assert unbounded == [], "\n".join(sorted(set(unbounded)))


def test_a_query_string_of_too_many_fields_is_400_in_the_api_shape(auth_client):
    query = "&".join(f"f{n}=x" for n in range(1500))
    _primary(auth_client.get(f"/api/files/list?{query}"), "MALFORMED_REQUEST")
    _fileago(auth_client.get(f"/api/nodes/root/dirlist?{query}"))
