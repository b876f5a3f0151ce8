"""StreamVault v3/v4 files and folders through HTTP, and across dialects."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from files.api.streamvault import human_size
from folders.models import Change

from .helpers import download, upload

pytestmark = pytest.mark.django_db


def _folder(client, name="Music", description="My favorite tracks"):
    resp = client.post("/storage/api/v3/folders/", {"name": name, "description": description}, format="json")
    assert resp.status_code == 201, resp.content
    return resp.json()


def test_create_and_read_folder_by_token(auth_client, api_client):
    created = _folder(auth_client)
    assert set(created) == {"id", "name", "token", "message"}
    assert created["name"] == "Music" and created["message"] == "Folder created successfully"
    assert isinstance(created["id"], int) and len(created["token"]) >= 22
    # Reading by token needs no account.
    resp = api_client.get(f"/storage/api/v3/folders/{created['token']}/")
    assert resp.status_code == 200
    assert resp.json() == {"id": created["id"], "name": "Music", "description": "My favorite tracks", "files": []}


def test_folder_update_by_token(auth_client, api_client, other_client):
    created = _folder(auth_client)
    body = {"token": created["token"], "name": "Music Updated", "description": "Updated folder description"}
    assert other_client.put("/storage/api/v3/folders/update/", body, format="json").status_code == 404
    assert api_client.put("/storage/api/v3/folders/update/", body, format="json").status_code == 401
    resp = auth_client.put("/storage/api/v3/folders/update/", body, format="json")
    assert resp.status_code == 200 and resp.json() == {"message": "Folder updated successfully"}
    folder = api_client.get(f"/storage/api/v3/folders/{created['token']}/").json()
    assert (folder["name"], folder["description"]) == ("Music Updated", "Updated folder description")


def test_files_by_token_list_move_replace(auth_client, api_client):
    music = _folder(auth_client)
    song = upload(auth_client, "example.mp4", b"v" * (23 * 1024 * 1024), content_type="video/mp4")
    rows = auth_client.get("/storage/api/v3/all_files/").json()
    assert rows == [{"id": rows[0]["id"], "file_name": "example.mp4", "folder": "", "size": "23 MB"}]
    file_id = rows[0]["id"]

    moved = auth_client.post("/storage/api/v3/files_move/", {"file_id": file_id, "folder_token": music["token"]},
                             format="json")
    assert moved.status_code == 200 and moved.json() == {"message": "File moved successfully"}
    listing = api_client.get(f"/storage/api/v3/folders/{music['token']}/").json()["files"]
    assert [(f["id"], f["file_name"], f["folder"], f["size"]) for f in listing] == \
        [(file_id, "example.mp4", "Music", "23 MB")]

    file_token = listing[0]["token"]
    by_token = api_client.get(f"/storage/api/v3/files/{file_token}/").json()
    assert set(by_token) == {"id", "file_name", "folder", "size", "created_at"}
    assert (by_token["id"], by_token["folder"]) == (file_id, "Music")

    replaced = auth_client.put(f"/storage/api/v3/files/replace/{file_id}/",
                               {"file": SimpleUploadedFile("x.mp4", b"new content")}, format="multipart")
    assert replaced.status_code == 200 and replaced.json() == {"message": "File replaced successfully"}
    assert download(auth_client, song["id"]) == b"new content"
    versions = auth_client.get(f"/api/files/{song['id']}/versions").json()["data"]
    assert [v["number"] for v in versions] == [2, 1]  # the old content is kept as a version
    public = api_client.get(f"/storage/api/v3/files/{file_token}/download/")
    assert b"".join(public.streaming_content) == b"new content"


def test_qr_code_is_made_once_and_opens_the_node(auth_client, api_client):
    music = _folder(auth_client)
    first = api_client.get(f"/storage/api/v3/qr/{music['token']}/")
    assert first.status_code == 200
    qr_url = first.json()["qr_url"]
    assert music["token"] not in qr_url
    assert api_client.get(f"/storage/api/v3/qr/{music['token']}/").json()["qr_url"] == qr_url
    image = api_client.get(qr_url.replace("http://testserver", ""))
    assert image.status_code == 200 and image["Content-Type"] == "image/png"
    png = b"".join(image.streaming_content)
    assert png.startswith(b"\x89PNG")
    from io import BytesIO

    from PIL import Image

    assert Image.open(BytesIO(png)).size[0] > 100


def test_token_rotation_kills_the_old_token(auth_client, api_client, other_client):
    music = _folder(auth_client)
    assert other_client.post("/storage/api/v3/tokens/rotate/", {"token": music["token"]},
                             format="json").status_code == 404
    rotated = auth_client.post("/storage/api/v3/tokens/rotate/", {"token": music["token"]}, format="json").json()
    assert rotated["token"] != music["token"]
    assert api_client.get(f"/storage/api/v3/folders/{music['token']}/").status_code == 404
    assert api_client.get(f"/storage/api/v3/qr/{music['token']}/").status_code == 404
    assert api_client.get(f"/storage/api/v3/folders/{rotated['token']}/").status_code == 200


def test_trashed_nodes_are_gone_by_token(auth_client, api_client):
    music = _folder(auth_client)
    folder_uuid = auth_client.get("/api/folders/list").json()["data"]["children"][0]["id"]
    resp = auth_client.delete(f"/api/v4/folders/{folder_uuid}/delete/")
    assert resp.json() == {"message": "Папка и все вложения успешно удалены"}
    assert api_client.get(f"/storage/api/v3/folders/{music['token']}/").status_code == 404


def test_v4_file_update_and_delete(auth_client):
    target = auth_client.post("/api/folders/create", {"name": "Audio"}, format="json").json()["data"]
    song = upload(auth_client, "old.mp3", b"m" * 1048576, content_type="audio/mpeg")
    resp = auth_client.put(f"/api/v4/files/{song['id']}/update/", {"name": "new_file_name.mp3",
                                                                    "folder": target["id"]}, format="json")
    assert resp.status_code == 200
    body = resp.json()
    assert set(body) == {"id", "name", "token", "file_type", "folder", "file", "size"}
    assert (body["id"], body["name"], body["file_type"], body["folder"], body["size"]) == \
        (song["id"], "new_file_name.mp3", "audio", target["id"], 1048576)
    rename_only = auth_client.put(f"/api/v4/files/{song['id']}/update/", {"name": "again.mp3"}, format="json")
    assert rename_only.json()["name"] == "again.mp3" and rename_only.json()["folder"] == target["id"]
    deleted = auth_client.delete(f"/api/v4/files/{song['id']}/delete/")
    assert deleted.status_code == 200 and deleted.json() == {"message": "Файл успешно удалён"}
    assert auth_client.get(f"/api/files/{song['id']}/info").status_code == 404


def test_v4_folder_update_parent_and_null(auth_client):
    outer = auth_client.post("/api/folders/create", {"name": "Outer"}, format="json").json()["data"]
    inner = auth_client.post("/api/folders/create", {"name": "Inner"}, format="json").json()["data"]
    moved = auth_client.put(f"/api/v4/folders/{inner['id']}/update/", {"name": "New Folder Name",
                                                                        "parent": outer["id"]}, format="json").json()
    assert moved == {"id": inner["id"], "name": "New Folder Name", "token": moved["token"], "parent": outer["id"]}
    back = auth_client.put(f"/api/v4/folders/{inner['id']}/update/", {"parent": None}, format="json").json()
    assert back["parent"] is None
    cycle = auth_client.put(f"/api/v4/folders/{outer['id']}/update/", {"parent": outer["id"]}, format="json")
    assert cycle.status_code == 400 and cycle.json()["code"] == "INVALID_MOVE"


def test_second_user_reaches_nothing(auth_client, other_client):
    music = _folder(auth_client)
    song = upload(auth_client, "s.mp3", b"x")
    folder_uuid = auth_client.get("/api/folders/list").json()["data"]["children"][0]["id"]
    file_pk = auth_client.get("/storage/api/v3/all_files/").json()[0]["id"]
    calls = [
        ("put", f"/storage/api/v3/files/replace/{file_pk}/", {"file": SimpleUploadedFile("x", b"evil")}, "multipart"),
        ("post", "/storage/api/v3/files_move/", {"file_id": file_pk, "folder_token": music["token"]}, "json"),
        ("put", f"/api/v4/files/{song['id']}/update/", {"name": "pwned"}, "json"),
        ("delete", f"/api/v4/files/{song['id']}/delete/", None, None),
        ("put", f"/api/v4/folders/{folder_uuid}/update/", {"name": "pwned"}, "json"),
        ("delete", f"/api/v4/folders/{folder_uuid}/delete/", None, None),
    ]
    for method, path, body, fmt in calls:
        resp = getattr(other_client, method)(path, body, format=fmt) if body else getattr(other_client, method)(path)
        assert resp.status_code == 404, (method, path)
        assert set(resp.json()) >= {"message"}
    assert other_client.get("/storage/api/v3/all_files/").json() == []
    # Moving one's own file into someone else's folder by its token is refused too.
    own = upload(other_client, "own.txt", b"o")
    own_pk = other_client.get("/storage/api/v3/all_files/").json()[0]["id"]
    assert own and other_client.post("/storage/api/v3/files_move/", {"file_id": own_pk, "folder_token": music["token"]},
                                     format="json").status_code == 404
    assert download(auth_client, song["id"]) == b"x"


def test_another_users_token_in_a_body_is_a_made_up_token(auth_client, other_client):
    music = _folder(auth_client)
    upload(other_client, "own.txt", b"o")
    own_pk = other_client.get("/storage/api/v3/all_files/").json()[0]["id"]
    calls = [
        ("post", "/storage/api/v3/folders/", lambda token: {"name": "In", "parent_token": token}),
        ("put", "/storage/api/v3/folders/update/", lambda token: {"token": token, "name": "pwned"}),
        ("post", "/storage/api/v3/files_move/", lambda token: {"file_id": own_pk, "folder_token": token}),
        ("post", "/storage/api/v3/tokens/rotate/", lambda token: {"token": token}),
    ]
    for method, path, body in calls:
        theirs = getattr(other_client, method)(path, body(music["token"]), format="json")
        made_up = getattr(other_client, method)(path, body("x" * 32), format="json")
        assert (theirs.status_code, theirs.json()) == (made_up.status_code, made_up.json()) == (404, theirs.json())
    assert auth_client.get(f"/storage/api/v3/folders/{music['token']}/").json()["name"] == "Music"
    assert other_client.get("/storage/api/v3/all_files/").json()[0]["folder"] == ""


@pytest.mark.parametrize("path", ["/storage/api/v3/folders/nope/", "/storage/api/v3/files/nope/",
                                  "/storage/api/v3/qr/nope/", "/api/v4/files/not-a-uuid/delete/",
                                  "/storage/api/v3/files/replace/abc/"])
def test_unknown_tokens_and_ids_are_404(auth_client, path):
    method = "delete" if "delete" in path else "put" if "replace" in path else "get"
    resp = getattr(auth_client, method)(path)
    assert resp.status_code == 404
    assert "message" in resp.json()


def test_one_domain_across_dialects(auth_client):
    """A StreamVault rename and move shows in the primary API, and the journal records each."""
    music = _folder(auth_client)
    song = upload(auth_client, "a.mp3", b"abc")
    auth_client.put(f"/api/v4/files/{song['id']}/update/", {"name": "b.mp3"}, format="json")
    file_pk = auth_client.get("/storage/api/v3/all_files/").json()[0]["id"]
    auth_client.post("/storage/api/v3/files_move/", {"file_id": file_pk, "folder_token": music["token"]},
                     format="json")
    info = auth_client.get(f"/api/files/{song['id']}/info").json()["data"]
    assert info["name"] == "b.mp3" and [p["name"] for p in info["path"]] == ["Home", "Music"]
    assert list(Change.objects.filter(node_uuid=song["id"]).values_list("action", flat=True)) == \
        ["create", "rename", "move"]


@pytest.mark.parametrize("size,text", [(0, "0 B"), (999, "999 B"), (1536, "1.5 KB"), (23 * 1024 ** 2, "23 MB"),
                                       (8 * 1024 ** 2 + 1, "8 MB"), (5 * 1024 ** 4, "5 TB")])
def test_human_sizes(size, text):
    assert human_size(size) == text
