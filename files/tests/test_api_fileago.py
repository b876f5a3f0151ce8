"""FileAgo node API through HTTP: details, dirlist, path, the POST
actions, delete, special folders, uploads by token, downloads by fileaccesskey,
and the same files seen through the primary API."""

import pytest
from django.db import connection
from django.test import Client as BrowserClient
from django.utils import timezone
from django.test.utils import CaptureQueriesContext

from accounts import services
from accounts.models import AuthSession
from files.models import Blob, UploadToken
from folders.models import Change

from .fileago_helpers import (
    act,
    details,
    dirlist,
    entry,
    fa_client,
    fa_upload,
    names,
    new_dir,
    post_upload,
    upload_token,
)
from .helpers import download, mkdir, upload, usage

pytestmark = pytest.mark.django_db

ERROR_KEYS = {"status", "msg"}


def _error(resp, status: int) -> str:
    assert resp.status_code == status, (resp.status_code, resp.content)
    body = resp.json()
    assert set(body) == ERROR_KEYS and body["status"] == "error"
    return body["msg"]


# --- details, dirlist, path ------------------------------------------------------------

def test_fileago_token_reads_home_in_seed_shape(user):
    client, signed = fa_client(user)
    resp = client.get("/api/nodes/home")
    assert resp.status_code == 200
    body = resp.json()
    assert (body["status"], body["msg"]) == ("success", "Node info fetched successfully")
    data = body["data"]
    assert set(data) == {"name", "type", "uuid", "owner_type", "owner_uuid", "owner_fullname", "created", "updated"}
    assert (data["name"], data["type"], data["uuid"]) == ("Home", "Dir", "home")
    assert (data["owner_type"], data["owner_uuid"], data["owner_fullname"]) == ("User", signed["uuid"], user.full_name)
    assert isinstance(data["created"], int) and data["created"] > 1_500_000_000_000  # epoch milliseconds


def test_new_dir_and_dirlist_rows_exactly_as_the_seed(auth_client):
    docs = new_dir(auth_client, "My Documents")
    for name in ("a.txt", "b.txt"):
        fa_upload(auth_client, docs, name)
    invoice = fa_upload(auth_client, "home", "Invoice.docx", b"x" * 1234)
    act(auth_client, invoice, starred=True)

    resp = auth_client.get("/api/nodes/home/dirlist")
    assert (resp.json()["status"], resp.json()["msg"]) == ("success", "Directory contents fetched successfully")
    folder_row, file_row = resp.json()["data"]  # folders first
    updated = folder_row.pop("updated")
    assert isinstance(updated, int) and updated > 1_500_000_000_000
    assert folder_row == {"is_starred": False, "public_shares": 0, "name": "My Documents", "size": 2,
                          "comment_count": 0, "uuid": docs, "private_shares": 0, "type": "Dir"}
    file_row.pop("updated")
    assert file_row == {"is_starred": True, "public_shares": 0, "name": "Invoice.docx", "size": 1234,
                        "comment_count": 0, "uuid": invoice, "private_shares": 0, "revision": 1, "type": "File"}


def test_details_and_path_of_nested_nodes(auth_client, user):
    misc = new_dir(auth_client, "Misc")
    deep = new_dir(auth_client, "Deep", parent=misc)
    file_id = fa_upload(auth_client, deep, "notes.txt", b"12345")
    data = details(auth_client, file_id)
    assert (data["name"], data["type"], data["uuid"], data["owner_uuid"]) == ("notes.txt", "File", file_id,
                                                                           str(user.uuid))
    resp = auth_client.get(f"/api/nodes/{misc}/path")
    assert resp.json() == {"status": "success", "msg": "Node path fetched successfully",
                           "data": [{"name": "Home", "uuid": "home"}, {"name": "Misc", "uuid": misc}]}
    assert auth_client.get(f"/api/nodes/{file_id}/path").json()["data"] == [
        {"name": "Home", "uuid": "home"}, {"name": "Misc", "uuid": misc}, {"name": "Deep", "uuid": deep},
        {"name": "notes.txt", "uuid": file_id}]
    assert auth_client.get("/api/nodes/home/path").json()["data"] == [{"name": "Home", "uuid": "home"}]


def test_dirlist_of_a_file_is_400(auth_client):
    file_id = fa_upload(auth_client, "home")
    assert "folder" in _error(auth_client.get(f"/api/nodes/{file_id}/dirlist"), 400)


@pytest.mark.parametrize("ref", ["nope", "trash:", "home:not-a-uuid", "home:00000000-0000-0000-0000-000000000000",
                                 "00000000-0000-0000-0000-000000000000", "Home"])
def test_unknown_nodes_are_404_in_fileago_shape(auth_client, ref):
    for path in (f"/api/nodes/{ref}", f"/api/nodes/{ref}/dirlist", f"/api/nodes/{ref}/path"):
        if ref == "trash:":  # an empty owner part is the caller's own
            assert auth_client.get(path).status_code == 200
            continue
        assert _error(auth_client.get(path), 404) == "Not found."


def test_no_token_is_401_in_fileago_shape(api_client):
    for path in ("/api/nodes/home", "/api/nodes/home/dirlist", "/api/nodes/home/path", "/api/nodes/home/upload"):
        _error(api_client.get(path), 401)
    _error(api_client.get("/api/nodes/home", HTTP_AUTHORIZATION="Bearer nonsense"), 401)
    _error(api_client.post("/api/nodes/home", {"new_dir": "x"}, format="json"), 401)
    _error(api_client.delete("/api/nodes/home"), 401)


def test_dirlist_query_count_does_not_grow_with_entries(auth_client):
    folder = new_dir(auth_client, "Many")
    for i in range(2):
        fa_upload(auth_client, folder, f"{i}.txt", str(i).encode())
    with CaptureQueriesContext(connection) as few:
        assert len(dirlist(auth_client, folder)) == 2
    for i in range(2, 12):
        fa_upload(auth_client, folder, f"{i}.txt", str(i).encode())
        new_dir(auth_client, f"sub{i}", parent=folder)
    with CaptureQueriesContext(connection) as many:
        assert len(dirlist(auth_client, folder)) == 22
    assert len(many) == len(few) <= 8


# --- POST actions -------------------------------------------------------------------------

def test_rename_and_its_errors(auth_client):
    file_id = fa_upload(auth_client, "home", "a.txt")
    fa_upload(auth_client, "home", "b.txt")
    act(auth_client, file_id, new_name="renamed.txt")
    assert details(auth_client, file_id)["name"] == "renamed.txt"
    assert "already exists" in _error(auth_client.post(f"/api/nodes/{file_id}", {"new_name": "b.txt"},
                                                       format="json"), 409)
    _error(auth_client.post(f"/api/nodes/{file_id}", {"new_name": "../x"}, format="json"), 400)
    _error(auth_client.post(f"/api/nodes/{file_id}", {"new_name": ""}, format="json"), 400)
    _error(auth_client.post("/api/nodes/home", {"new_name": "Root"}, format="json"), 400)
    assert sorted(names(auth_client)) == ["b.txt", "renamed.txt"]


def test_new_dir_errors(auth_client):
    new_dir(auth_client, "Taken")
    file_id = fa_upload(auth_client, "home")
    _error(auth_client.post("/api/nodes/home", {"new_dir": "Taken"}, format="json"), 409)
    _error(auth_client.post(f"/api/nodes/{file_id}", {"new_dir": "Inside a file"}, format="json"), 400)
    _error(auth_client.post("/api/nodes/trash", {"new_dir": "In a view"}, format="json"), 400)
    _error(auth_client.post("/api/nodes/home", {"new_dir": None}, format="json"), 400)
    assert sorted(names(auth_client)) == ["Taken", "a.txt"]


@pytest.mark.parametrize("body", [{}, {"new_dir": "a", "new_name": "b"}, {"unknown": 1}, [1, 2],
                                  {"starred": "maybe"}, {"share_copy_with": "not-a-list"}, {"copy_to": ["x"]}])
def test_post_needs_exactly_one_valid_action(auth_client, body):
    _error(auth_client.post("/api/nodes/home", body, format="json"), 400)


def test_post_accepts_curl_style_json_as_form(auth_client):
    resp = auth_client.post("/api/nodes/home", data='{"new_dir": "From curl"}',
                            content_type="application/x-www-form-urlencoded")
    assert resp.status_code == 204
    assert names(auth_client) == ["From curl"]


def test_star_and_favorites(auth_client):
    file_id = fa_upload(auth_client, "home")
    folder = new_dir(auth_client, "Fav")
    act(auth_client, file_id, starred=True)
    act(auth_client, folder, starred=True)
    act(auth_client, folder, starred=True)  # idempotent
    assert sorted(names(auth_client, "favorites")) == ["Fav", "a.txt"]
    assert all(row["is_starred"] for row in dirlist(auth_client, "favorites"))
    act(auth_client, folder, starred=False)
    assert names(auth_client, "favorites") == ["a.txt"]
    _error(auth_client.post("/api/nodes/home", {"starred": True}, format="json"), 400)
    # Primary API agrees.
    assert auth_client.get(f"/api/files/{file_id}/info").json()["data"]["isStarred"] is True


def test_copy_to_shares_bytes_and_charges_quota(auth_client):
    folder = new_dir(auth_client, "Backup")
    file_id = fa_upload(auth_client, "home", "big.bin", b"z" * 1000)
    blobs, used = Blob.objects.count(), usage(auth_client)["used"]
    act(auth_client, file_id, copy_to=folder)
    copy = entry(auth_client, folder, "big.bin")
    assert (copy["size"], copy["revision"]) == (1000, 1) and copy["uuid"] != file_id
    assert Blob.objects.count() == blobs  # stored once
    assert usage(auth_client)["used"] == used + 1000
    assert download(auth_client, copy["uuid"]) == b"z" * 1000
    # A folder copies with everything in it; `home` is a valid target.
    act(auth_client, folder, copy_to=new_dir(auth_client, "Archive"))
    assert names(auth_client, entry(auth_client, entry(auth_client, "home", "Archive")["uuid"], "Backup")["uuid"]) \
        == ["big.bin"]


def test_copy_to_errors_change_nothing(auth_client):
    folder = new_dir(auth_client, "Folder")
    inner = new_dir(auth_client, "Inner", parent=folder)
    file_id = fa_upload(auth_client, "home", "a.txt")
    fa_upload(auth_client, folder, "a.txt")
    before = Change.objects.count()
    _error(auth_client.post(f"/api/nodes/{file_id}", {"copy_to": folder}, format="json"), 409)  # name clash
    _error(auth_client.post(f"/api/nodes/{folder}", {"copy_to": inner}, format="json"), 400)  # own subtree
    _error(auth_client.post(f"/api/nodes/{folder}", {"copy_to": folder}, format="json"), 400)
    _error(auth_client.post(f"/api/nodes/{folder}", {"copy_to": file_id}, format="json"), 400)  # not a folder
    _error(auth_client.post(f"/api/nodes/{folder}", {"copy_to": "trash"}, format="json"), 400)  # a view
    _error(auth_client.post(f"/api/nodes/{file_id}", {"copy_to": "f0000000-0000-0000-0000-000000000000"},
                            format="json"), 404)
    _error(auth_client.post("/api/nodes/home", {"copy_to": folder}, format="json"), 400)  # a top-level folder
    assert Change.objects.count() == before


def test_move_to_and_its_errors(auth_client):
    folder = new_dir(auth_client, "Folder")
    inner = new_dir(auth_client, "Inner", parent=folder)
    file_id = fa_upload(auth_client, "home", "a.txt")
    act(auth_client, file_id, move_to=inner)
    assert names(auth_client, inner) == ["a.txt"]
    assert [p["name"] for p in auth_client.get(f"/api/nodes/{file_id}/path").json()["data"]] == \
        ["Home", "Folder", "Inner", "a.txt"]
    act(auth_client, file_id, move_to="home")
    fa_upload(auth_client, inner, "a.txt", b"other")
    before = Change.objects.count()
    _error(auth_client.post(f"/api/nodes/{file_id}", {"move_to": inner}, format="json"), 409)
    _error(auth_client.post(f"/api/nodes/{folder}", {"move_to": inner}, format="json"), 400)  # own subtree
    _error(auth_client.post(f"/api/nodes/{folder}", {"move_to": folder}, format="json"), 400)
    _error(auth_client.post(f"/api/nodes/{folder}", {"move_to": "favorites"}, format="json"), 400)
    _error(auth_client.post("/api/nodes/incoming", {"move_to": folder}, format="json"), 400)
    assert Change.objects.count() == before


def test_delete_moves_to_trash(auth_client):
    folder = new_dir(auth_client, "Old")
    fa_upload(auth_client, folder, "inside.txt")
    file_id = fa_upload(auth_client, "home", "gone.txt")
    for node in (folder, file_id):
        resp = auth_client.delete(f"/api/nodes/{node}")
        assert resp.status_code == 204 and resp.content == b""
    assert names(auth_client) == []
    trash = dirlist(auth_client, "trash")
    assert [(r["name"], r["type"], r["size"]) for r in trash] == [("Old", "Dir", 1), ("gone.txt", "File", 5)]
    _error(auth_client.delete(f"/api/nodes/{file_id}"), 404)  # already gone
    _error(auth_client.delete("/api/nodes/home"), 400)
    _error(auth_client.delete("/api/nodes/trash"), 400)
    # The primary API's trash shows the same entries.
    assert sorted(n["name"] for n in auth_client.get("/api/trash").json()["data"]["items"]) == ["Old", "gone.txt"]


# --- special folders ----------------------------------------------------------------------------

@pytest.mark.parametrize("ref,name", [("home", "Home"), ("incoming", "Incoming"), ("trash", "Trash"),
                                      ("public_shares", "Public shares"), ("private_shares", "Private shares"),
                                      ("favorites", "Favorites"), ("shared_with_you", "Shared with you")])
def test_every_special_folder(auth_client, user, ref, name):
    data = details(auth_client, ref)
    assert (data["name"], data["type"], data["uuid"], data["owner_uuid"]) == (name, "Dir", ref, str(user.uuid))
    assert dirlist(auth_client, ref) == []
    assert auth_client.get(f"/api/nodes/{ref}/path").json()["data"] == [{"name": name, "uuid": ref}]
    # The caller's own uuid names the caller's folders too.
    assert details(auth_client, f"{ref}:{user.uuid}")["uuid"] == ref
    assert details(auth_client, f"{ref}:{str(user.uuid).upper()}")["uuid"] == ref


def test_public_shares_counts_live_links(auth_client):
    file_id = fa_upload(auth_client, "home", "shared.txt")
    fa_upload(auth_client, "home", "private.txt")
    links = [auth_client.post(f"/api/files/{file_id}/share", {}, format="json").json()["data"] for _ in range(2)]
    auth_client.post(f"/api/files/{file_id}/share", {"maxDownloads": 1}, format="json")
    assert entry(auth_client, "home", "shared.txt")["public_shares"] == 3
    assert names(auth_client, "public_shares") == ["shared.txt"]
    for link in links:
        auth_client.delete(f"/api/shares/{link['id']}")
    assert entry(auth_client, "home", "shared.txt")["public_shares"] == 1
    only = auth_client.get(f"/api/files/{file_id}/share").json()["data"][0]
    assert auth_client.get(f"/api/public/shares/{only['token']}/download").status_code == 200  # used up now
    assert entry(auth_client, "home", "shared.txt")["public_shares"] == 0
    assert names(auth_client, "public_shares") == []


# --- uploads by token -------------------------------------------------------------------------

def test_upload_token_and_upload_in_seed_shape(auth_client):
    resp = auth_client.get("/api/nodes/home/upload")
    assert resp.status_code == 200
    body = resp.json()
    assert set(body) == {"token", "status", "msg"}
    assert (body["status"], body["msg"]) == ("success", "This token is valid for next 5 seconds only")
    assert len(body["token"]) >= 43  # 256 bits, url-safe
    resp = post_upload(body["token"], "filename.txt", b"content")
    assert resp.json() == {"status": "success", "msg": "File(s) uploaded successfully"}
    row = entry(auth_client, "home", "filename.txt")
    assert (row["size"], row["revision"]) == (7, 1)
    assert download(auth_client, row["uuid"]) == b"content"


def test_upload_same_name_is_a_new_version_and_file_token_a_new_revision(auth_client):
    folder = new_dir(auth_client, "Docs")
    file_id = fa_upload(auth_client, folder, "report.txt", b"v1")
    assert fa_upload(auth_client, folder, "report.txt", b"v2 longer") == file_id
    assert entry(auth_client, folder, "report.txt")["revision"] == 2
    fa_upload(auth_client, file_id, "ignored-name.bin", b"v3")  # a file's token: a new revision, same name
    row = entry(auth_client, folder, "report.txt")
    assert (row["uuid"], row["revision"], row["size"]) == (file_id, 3, 2)
    assert names(auth_client, folder) == ["report.txt"]
    versions = auth_client.get(f"/api/files/{file_id}/versions").json()["data"]
    assert [v["number"] for v in versions] == [3, 2, 1]


def test_several_files_in_one_upload(auth_client, api_client):
    from django.core.files.uploadedfile import SimpleUploadedFile

    token = upload_token(auth_client, "home")
    files = [SimpleUploadedFile(n, n.encode()) for n in ("one.txt", "two.txt")]
    assert api_client.post(f"/upload/{token}", {"file": files}, format="multipart").status_code == 200
    assert names(auth_client) == ["one.txt", "two.txt"]
    # A new revision is one file.
    token = upload_token(auth_client, entry(auth_client, "home", "one.txt")["uuid"])
    files = [SimpleUploadedFile(n, n.encode()) for n in ("x", "y")]
    _error(api_client.post(f"/upload/{token}", {"file": files}, format="multipart"), 400)
    assert entry(auth_client, "home", "one.txt")["revision"] == 1


def test_reused_token_is_refused_and_stores_nothing(auth_client):
    token = upload_token(auth_client, "home")
    post_upload(token, "first.txt", b"first")
    blobs, used = Blob.objects.count(), usage(auth_client)["used"]
    resp = post_upload(token, "second.txt", b"second", expect=401)
    assert resp.json() == {"status": "error", "msg": "Upload token is invalid, expired or already used."}
    assert names(auth_client) == ["first.txt"]
    assert (Blob.objects.count(), usage(auth_client)["used"]) == (blobs, used)


@pytest.mark.parametrize("seconds", [0, -1])
def test_expired_token_is_refused_and_stores_nothing(auth_client, settings, seconds):
    settings.FILEAGO_UPLOAD_TOKEN_SECONDS = seconds
    resp = auth_client.get("/api/nodes/home/upload")
    assert resp.json()["msg"] == f"This token is valid for next {seconds} seconds only"
    post_upload(resp.json()["token"], expect=401)
    assert names(auth_client) == [] and Blob.objects.count() == 0
    assert usage(auth_client)["used"] == 0


def test_upload_errors(auth_client, api_client, settings):
    _error(api_client.post("/upload/not-a-token", {}, format="multipart"), 401)
    _error(auth_client.get("/api/nodes/trash/upload"), 400)  # a view takes no uploads
    _error(auth_client.get("/api/nodes/f0000000-0000-0000-0000-000000000000/upload"), 404)
    token = upload_token(auth_client, "home")
    _error(api_client.post(f"/upload/{token}", {"other": "field"}, format="multipart"), 400)
    settings.UPLOAD_MAX_SIZE = 10
    post_upload(upload_token(auth_client, "home"), "big.bin", b"x" * (200 * 1024), expect=413)
    assert names(auth_client) == [] and Blob.objects.count() == 0


def test_spent_and_expired_tokens_do_not_pile_up(auth_client, settings):
    settings.FILEAGO_UPLOAD_TOKEN_SECONDS = -1
    for _ in range(3):
        upload_token(auth_client, "home")
    settings.FILEAGO_UPLOAD_TOKEN_SECONDS = 5
    post_upload(upload_token(auth_client, "home"))
    assert UploadToken.objects.count() == 0


def test_upload_over_quota_is_413_and_stores_nothing(auth_client, user):
    user.storage_quota = 3
    user.save()
    post_upload(upload_token(auth_client, "home"), "big.txt", b"too big", expect=413)
    assert names(auth_client) == [] and Blob.objects.count() == 0


# --- downloads ------------------------------------------------------------------------------------

def test_download_with_fileaccesskey_or_bearer(user, api_client):
    client, signed = fa_client(user)
    file_id = fa_upload(client, "home", "movie.txt", b"0123456789")
    fa_upload(client, file_id, "movie.txt", b"new content")
    url = f"/api/nodes/{file_id}/download?fileaccesskey={signed['fileaccesskey']}"
    resp = api_client.get(url)
    assert resp.status_code == 200
    assert b"".join(resp.streaming_content) == b"new content"
    assert resp["Content-Disposition"].startswith("attachment")
    ranged = api_client.get(url, HTTP_RANGE="bytes=0-2")
    assert ranged.status_code == 206 and b"".join(ranged.streaming_content) == b"new"
    assert api_client.get(url, HTTP_IF_NONE_MATCH=resp["ETag"]).status_code == 304
    old = api_client.get(f"{url}&revision=1")
    assert b"".join(old.streaming_content) == b"0123456789"
    assert b"".join(client.get(f"/api/nodes/{file_id}/download").streaming_content) == b"new content"


def test_download_errors(auth_client, api_client, user, other_user):
    file_id = fa_upload(auth_client, "home", "a.txt")
    folder = new_dir(auth_client, "Dir")
    key = f"fileaccesskey={fa_client(user)[1]['fileaccesskey']}"
    _error(api_client.get(f"/api/nodes/{file_id}/download"), 401)
    _error(api_client.get(f"/api/nodes/{file_id}/download?fileaccesskey=wrong"), 401)
    _error(api_client.get(f"/api/nodes/{file_id}/download?fileaccesskey="), 401)
    other_key = fa_client(other_user)[1]["fileaccesskey"]
    _error(api_client.get(f"/api/nodes/{file_id}/download?fileaccesskey={other_key}"), 404)
    _error(api_client.get(f"/api/nodes/{folder}/download?{key}"), 400)
    _error(api_client.get(f"/api/nodes/trash/download?{key}"), 400)
    _error(api_client.get(f"/api/nodes/{file_id}/download?{key}&revision=9"), 404)
    _error(api_client.get(f"/api/nodes/{file_id}/download?{key}&revision=x"), 400)  # not a number: malformed
    # A fileaccesskey opens downloads only.
    _error(api_client.get(f"/api/nodes/{file_id}?{key}"), 401)


def test_deactivated_users_key_stops_working(api_client, user):
    client, signed = fa_client(user)
    file_id = fa_upload(client, "home")
    user.is_active = False
    user.save()
    _error(api_client.get(f"/api/nodes/{file_id}/download?fileaccesskey={signed['fileaccesskey']}"), 401)


def test_key_ends_with_its_session(api_client, user, settings):
    """The key of a sign-in ends with that sign-in's session: logout, a revoke of every
    session, expiry. Each sign-in gets a key of its own; another session's key lives on."""
    client, signed = fa_client(user)
    file_id = fa_upload(client, "home", "a.txt", b"abc")

    def download(key):
        return api_client.get(f"/api/nodes/{file_id}/download?fileaccesskey={key}")

    assert download(signed["fileaccesskey"]).status_code == 200
    second_client, second = fa_client(user)
    assert second["fileaccesskey"] != signed["fileaccesskey"]
    # Logout with the FileAgo token ends that sign-in's key, not the other one.
    assert client.post("/api/logout").status_code == 200
    _error(download(signed["fileaccesskey"]), 401)
    assert b"".join(download(second["fileaccesskey"]).streaming_content) == b"abc"
    # An admin's "revoke sessions" ends every key of the user.
    third_client, third = fa_client(user)
    admin, _, _ = services.admin_ensure(email="root@example.com", password="Adm1n-passw0rd!", phone=None)
    browser = BrowserClient()
    browser.force_login(admin)
    assert browser.post("/admin/accounts/user/", {"action": "revoke_sessions",
                                                  "_selected_action": [user.pk]}).status_code == 302
    _error(download(second["fileaccesskey"]), 401)
    _error(download(third["fileaccesskey"]), 401)
    # A key lives no longer than its session.
    _, fourth = fa_client(user)
    assert download(fourth["fileaccesskey"]).status_code == 200
    AuthSession.objects.filter(user=user).update(expires_at=timezone.now())
    _error(download(fourth["fileaccesskey"]), 401)


# --- across dialects ----------------------------------------------------------------------------

def _primary_files(client, folder_id=None) -> list[dict]:
    query = f"?folderId={folder_id}" if folder_id else ""
    return client.get(f"/api/files/list{query}").json()["data"]["items"]


def test_fileago_upload_is_seen_by_the_primary_api_and_back(auth_client):
    folder = new_dir(auth_client, "Shared")
    file_id = fa_upload(auth_client, folder, "from-fileago.txt", b"fileago bytes")
    fa_upload(auth_client, folder, "from-fileago.txt", b"fileago bytes v2")
    [item] = _primary_files(auth_client, folder)
    assert (item["id"], item["name"], item["size"], item["version"]) == (file_id, "from-fileago.txt", 16, 2)
    assert download(auth_client, file_id) == b"fileago bytes v2"

    primary = upload(auth_client, "from-primary.txt", b"primary", folder=folder)
    upload(auth_client, "from-primary.txt", b"primary v2", folder=folder)
    row = entry(auth_client, folder, "from-primary.txt")
    assert (row["uuid"], row["size"], row["revision"]) == (primary["id"], 10, 2)
    # Folders made by either show in the other.
    made = mkdir(auth_client, "Primary folder", parent=folder)
    assert entry(auth_client, folder, "Primary folder")["uuid"] == made["id"]


def test_renames_cross_dialects_and_are_journalled(auth_client, user):
    file_id = fa_upload(auth_client, "home", "one.txt")
    act(auth_client, file_id, new_name="two.txt")
    assert auth_client.get(f"/api/files/{file_id}/info").json()["data"]["name"] == "two.txt"
    assert auth_client.post(f"/api/files/{file_id}/rename", {"name": "three.txt"}, format="json").status_code == 200
    assert details(auth_client, file_id)["name"] == "three.txt"
    fa_upload(auth_client, file_id, "three.txt", b"new")
    act(auth_client, file_id, move_to=new_dir(auth_client, "Dir"))
    auth_client.delete(f"/api/nodes/{file_id}")
    journal = list(Change.objects.filter(owner=user, node_uuid=file_id).values_list("action", "name", "version"))
    assert journal == [("create", "one.txt", 1), ("rename", "two.txt", 1), ("rename", "three.txt", 1),
                       ("update", "three.txt", 2), ("move", "three.txt", 2), ("trash", "three.txt", 2)]
