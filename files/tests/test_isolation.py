"""A second user reaches nothing of the first: every id-taking endpoint answers 404
(never 403, which would confirm the object exists), and nothing changes."""

import pytest

from folders.models import Change, Node

from .helpers import mkdir, upload

pytestmark = pytest.mark.django_db


@pytest.fixture
def victim(auth_client):
    folder = mkdir(auth_client, "Private")
    file = upload(auth_client, "secret.txt", b"top secret", folder=folder["id"])
    upload(auth_client, "secret.txt", b"top secret v2", folder=folder["id"])
    gone = upload(auth_client, "trashed.txt", b"old secret")
    auth_client.delete(f"/api/files/{gone['id']}/delete")
    share = auth_client.post(f"/api/files/{file['id']}/share", {}, format="json").json()["data"]
    return {"folder": folder["id"], "file": file["id"], "trashed": gone["id"], "share": share["id"]}


def _calls(v, target_folder):
    f, d, t, s = v["file"], v["folder"], v["trashed"], v["share"]
    return [
        ("get", f"/api/files/{f}/download", None),
        ("get", f"/api/files/{f}/info", None),
        ("delete", f"/api/files/{f}/delete", None),
        ("post", f"/api/files/{f}/share", {}),
        ("get", f"/api/files/{f}/share", None),
        ("post", f"/api/files/{f}/rename", {"name": "pwned.txt"}),
        ("post", f"/api/files/{f}/move", {"folderId": target_folder}),
        ("post", f"/api/files/{f}/copy", {"folderId": target_folder}),
        ("post", f"/api/files/{f}/star", {}),
        ("get", f"/api/files/{f}/versions", None),
        ("get", f"/api/files/{f}/versions/1/download", None),
        ("post", f"/api/files/{f}/versions/1/restore", None),
        ("get", f"/api/folders/{d}", None),
        ("get", f"/api/folders/{d}/contents", None),
        ("post", f"/api/folders/{d}/rename", {"name": "pwned"}),
        ("post", f"/api/folders/{d}/move", {"folderId": target_folder}),
        ("post", f"/api/folders/{d}/copy", {"folderId": target_folder}),
        ("post", f"/api/folders/{d}/star", {}),
        ("delete", f"/api/folders/{d}/delete", None),
        ("post", "/api/folders/create", {"name": "intruder", "parentId": d}),
        ("post", f"/api/trash/{t}/restore", None),
        ("delete", f"/api/trash/{t}", None),
        ("patch", f"/api/shares/{s}", {"password": "hijacked"}),
        ("delete", f"/api/shares/{s}", None),
        # The victim's folder as a target of the intruder's own objects.
        ("upload", d, None),
    ]


def test_second_user_gets_404_everywhere(victim, other_client, auth_client):
    own_folder = mkdir(other_client, "Mine")
    own_file = upload(other_client, "mine.txt", b"mine")
    before = (list(Node.objects.order_by("pk").values()), Change.objects.count())
    for method, path, body in _calls(victim, own_folder["id"]):
        if method == "upload":
            resp = other_client.post("/api/files/upload", {"file": _file(), "folderId": path}, format="multipart")
        else:
            resp = getattr(other_client, method)(path, body, format="json") if body is not None else \
                getattr(other_client, method)(path)
        assert resp.status_code == 404, (method, path, resp.status_code)
        assert resp.json()["error"]["code"] == "NOT_FOUND", (method, path)
        assert b"secret" not in resp.content
    # Moving the intruder's own file into the victim's folder is refused too.
    resp = other_client.post(f"/api/files/{own_file['id']}/move", {"folderId": victim["folder"]}, format="json")
    assert resp.status_code == 404
    assert (list(Node.objects.order_by("pk").values()), Change.objects.count()) == before
    # And the victim still has everything.
    assert auth_client.get(f"/api/files/{victim['file']}/info").status_code == 200


def _file():
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile("x.txt", b"x")


def test_lists_and_search_show_only_own_objects(victim, other_client):
    upload(other_client, "own-file.txt", b"x")
    files = other_client.get("/api/files/list").json()["data"]["items"]
    assert [f["name"] for f in files] == ["own-file.txt"]
    assert other_client.get("/api/search", {"q": "secret"}).json()["data"]["items"] == []
    assert other_client.get("/api/search", {"q": "Private"}).json()["data"]["items"] == []
    assert other_client.get("/api/folders/list").json()["data"]["children"] == []
    assert other_client.get("/api/trash").json()["data"]["items"] == []
    assert other_client.get("/api/files/list", {"folderId": victim["folder"]}).status_code == 404
    stats = other_client.get("/api/user/storage-stats").json()["data"]
    assert stats["used"] == 1 and stats["fileCount"] == 1


def test_anonymous_gets_401_everywhere(victim, api_client):
    for method, path, body in _calls(victim, victim["folder"]):
        if method == "upload":
            continue
        resp = getattr(api_client, method)(path)
        assert resp.status_code == 401, (method, path)
        assert resp.json()["error"]["code"] == "NO_TOKEN"
