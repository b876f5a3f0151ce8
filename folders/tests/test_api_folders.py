"""The primary folder API through HTTP: create, tree, contents, rename, move, copy, delete."""

import pytest

from files.tests.helpers import download, mkdir, upload, usage
from folders.models import Change, Node

pytestmark = pytest.mark.django_db


def test_create_in_home_and_nested(auth_client):
    resp = auth_client.post("/api/folders/create", {"name": "Music"}, format="json")
    assert resp.status_code == 201
    body = resp.json()
    assert body["success"] is True and body["message"] == "Folder created"
    music = body["data"]
    assert music["type"] == "folder" and music["name"] == "Music"
    rock = mkdir(auth_client, "Rock", parent=music["id"])
    assert rock["parentId"] == music["id"]


def test_create_conflicts_and_renames(auth_client):
    mkdir(auth_client, "Docs")
    clash = mkdir(auth_client, "Docs", expect=409)
    assert clash["error"]["code"] == "NAME_CONFLICT"
    upload(auth_client, "Notes", b"x")
    assert mkdir(auth_client, "Notes", expect=409)["error"]["code"] == "NAME_CONFLICT"
    resp = auth_client.post("/api/folders/create", {"name": "Docs", "onConflict": "rename"}, format="json")
    assert resp.json()["data"]["name"] == "Docs (1)"


@pytest.mark.parametrize("name", ["", "..", "a/b", "x" * 256, "new\nline"])
def test_create_bad_names(auth_client, name):
    resp = auth_client.post("/api/folders/create", {"name": name}, format="json")
    assert resp.status_code == 400
    assert resp.json()["error"]["code"] in ("INVALID_NAME", "VALIDATION_ERROR")
    assert not Node.objects.filter(kind="folder", parent__isnull=False).exists()


def test_create_in_unknown_parent_is_404(auth_client):
    body = mkdir(auth_client, "x", parent="11111111-1111-1111-1111-111111111111", expect=404)
    assert body["error"]["code"] == "NOT_FOUND"


def test_tree(auth_client):
    a = mkdir(auth_client, "A")
    mkdir(auth_client, "A1", parent=a["id"])
    mkdir(auth_client, "B")
    tree = auth_client.get("/api/folders/list").json()["data"]
    assert tree["id"] == "root"
    assert [(n["name"], [c["name"] for c in n["children"]]) for n in tree["children"]] == [("A", ["A1"]), ("B", [])]


def test_detail_contents_and_size(auth_client):
    a = mkdir(auth_client, "A")
    b = mkdir(auth_client, "B", parent=a["id"])
    upload(auth_client, "one.bin", b"1" * 10, folder=a["id"])
    upload(auth_client, "two.bin", b"2" * 5, folder=b["id"])
    detail = auth_client.get(f"/api/folders/{b['id']}").json()["data"]
    assert [p["name"] for p in detail["path"]] == ["Home", "A"]
    assert auth_client.get(f"/api/folders/{a['id']}").json()["data"]["size"] == 15
    contents = auth_client.get(f"/api/folders/{a['id']}/contents").json()["data"]["items"]
    assert [(c["type"], c["name"]) for c in contents] == [("folder", "B"), ("file", "one.bin")]
    root = auth_client.get("/api/folders/root/contents").json()["data"]["items"]
    assert [c["name"] for c in root] == ["A"]


def test_rename_and_star(auth_client):
    folder = mkdir(auth_client, "Old")
    renamed = auth_client.post(f"/api/folders/{folder['id']}/rename", {"name": "New"}, format="json").json()["data"]
    assert renamed["name"] == "New"
    starred = auth_client.post(f"/api/folders/{folder['id']}/star", {}, format="json").json()["data"]
    assert starred["isStarred"] is True


def test_move_rewrites_the_subtree(auth_client):
    a = mkdir(auth_client, "A")
    b = mkdir(auth_client, "B", parent=a["id"])
    file = upload(auth_client, "f.txt", b"x", folder=b["id"])
    target = mkdir(auth_client, "T")
    resp = auth_client.post(f"/api/folders/{a['id']}/move", {"folderId": target["id"]}, format="json")
    assert resp.status_code == 200
    info = auth_client.get(f"/api/files/{file['id']}/info").json()["data"]
    assert [p["name"] for p in info["path"]] == ["Home", "T", "A", "B"]
    assert auth_client.get(f"/api/folders/{target['id']}").json()["data"]["size"] == 1


def test_move_into_own_subtree_is_refused(auth_client):
    a = mkdir(auth_client, "A")
    b = mkdir(auth_client, "B", parent=a["id"])
    for target in (a["id"], b["id"]):
        resp = auth_client.post(f"/api/folders/{a['id']}/move", {"folderId": target}, format="json")
        assert resp.status_code == 400
        assert resp.json()["error"]["code"] == "INVALID_MOVE"
    detail = auth_client.get(f"/api/folders/{b['id']}").json()["data"]
    assert [p["name"] for p in detail["path"]] == ["Home", "A"]


def test_move_name_clash(auth_client):
    a = mkdir(auth_client, "A")
    mkdir(auth_client, "X", parent=a["id"])
    x = mkdir(auth_client, "X")
    resp = auth_client.post(f"/api/folders/{x['id']}/move", {"folderId": a["id"]}, format="json")
    assert resp.status_code == 409
    auto = auth_client.post(f"/api/folders/{x['id']}/move", {"folderId": a["id"], "onConflict": "rename"},
                            format="json")
    assert auto.json()["data"]["name"] == "X (1)"


def test_copy_folder_with_contents(auth_client):
    a = mkdir(auth_client, "A")
    b = mkdir(auth_client, "B", parent=a["id"])
    upload(auth_client, "f.txt", b"hello", folder=b["id"])
    resp = auth_client.post(f"/api/folders/{a['id']}/copy", {"folderId": "root", "name": "A copy"}, format="json")
    assert resp.status_code == 201
    copy = resp.json()["data"]
    inner = auth_client.get(f"/api/folders/{copy['id']}/contents").json()["data"]["items"]
    assert [i["name"] for i in inner] == ["B"]
    files = auth_client.get(f"/api/folders/{inner[0]['id']}/contents").json()["data"]["items"]
    assert download(auth_client, files[0]["id"]) == b"hello"
    assert usage(auth_client)["used"] == 10
    into_self = auth_client.post(f"/api/folders/{a['id']}/copy", {"folderId": b["id"]}, format="json")
    assert into_self.status_code == 400


def test_delete_moves_subtree_to_trash_and_restore_brings_it_back(auth_client):
    a = mkdir(auth_client, "A")
    b = mkdir(auth_client, "B", parent=a["id"])
    file = upload(auth_client, "f.txt", b"data", folder=b["id"])
    resp = auth_client.delete(f"/api/folders/{a['id']}/delete")
    assert resp.status_code == 200 and resp.json()["message"] == "Folder moved to trash"
    assert auth_client.get(f"/api/files/{file['id']}/info").status_code == 404
    assert auth_client.get("/api/files/list").json()["data"]["items"] == []
    trash = auth_client.get("/api/trash").json()["data"]["items"]
    assert [t["name"] for t in trash] == ["A"]
    assert usage(auth_client)["trash"] == 4
    restored = auth_client.post(f"/api/trash/{a['id']}/restore")
    assert restored.status_code == 200
    assert download(auth_client, file["id"]) == b"data"
    assert auth_client.get("/api/trash").json()["data"]["items"] == []


def test_home_cannot_be_deleted_or_moved(auth_client):
    assert auth_client.delete("/api/folders/root/delete").status_code == 404
    a = mkdir(auth_client, "A")
    assert auth_client.post("/api/folders/root/move", {"folderId": a["id"]}, format="json").status_code == 404


def test_every_change_is_journaled_in_order(auth_client, user):
    folder = mkdir(auth_client, "J")
    file = upload(auth_client, "j.txt", b"1", folder=folder["id"])
    upload(auth_client, "j.txt", b"2", folder=folder["id"])
    auth_client.post(f"/api/files/{file['id']}/rename", {"name": "k.txt"}, format="json")
    auth_client.post(f"/api/files/{file['id']}/move", {"folderId": "root"}, format="json")
    auth_client.delete(f"/api/files/{file['id']}/delete")
    auth_client.post(f"/api/trash/{file['id']}/restore")
    changes = list(Change.objects.filter(owner=user).values_list("action", "name"))
    assert changes == [("create", "J"), ("create", "j.txt"), ("update", "j.txt"), ("rename", "k.txt"),
                       ("move", "k.txt"), ("trash", "k.txt"), ("restore", "k.txt")]
    ids = list(Change.objects.filter(owner=user).values_list("id", flat=True))
    assert ids == sorted(ids)
