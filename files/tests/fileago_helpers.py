"""Calls of the FileAgo node API, for tests."""

from django.core.files.uploadedfile import SimpleUploadedFile

from accounts.tests.factories import PASSWORD
from storage_site.testing.client import Client


def fa_client(user) -> tuple[Client, dict]:
    """A client signed in through FileAgo's own `POST /auth`; returns it and the sign-in answer."""
    client = Client()
    resp = client.post("/auth", {"username": user.email, "password": PASSWORD}, format="json")
    assert resp.status_code == 200, resp.content
    signed = resp.json()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {signed['token']}")
    return client, signed


def details(client, ref: str) -> dict:
    resp = client.get(f"/api/nodes/{ref}")
    assert resp.status_code == 200, resp.content
    return resp.json()["data"]


def dirlist(client, ref: str = "home") -> list[dict]:
    resp = client.get(f"/api/nodes/{ref}/dirlist")
    assert resp.status_code == 200, resp.content
    return resp.json()["data"]


def names(client, ref: str = "home") -> list[str]:
    return [row["name"] for row in dirlist(client, ref)]


def entry(client, ref: str, name: str) -> dict:
    return next(row for row in dirlist(client, ref) if row["name"] == name)


def act(client, ref: str, expect: int = 204, **body):
    """`POST /api/nodes/<ref>` with one action; returns the response."""
    resp = client.post(f"/api/nodes/{ref}", body, format="json")
    assert resp.status_code == expect, resp.content
    if expect == 204:
        assert resp.content == b""
    return resp


def new_dir(client, name: str, parent: str = "home") -> str:
    act(client, parent, new_dir=name)
    return entry(client, parent, name)["uuid"]


def upload_token(client, ref: str) -> str:
    resp = client.get(f"/api/nodes/{ref}/upload")
    assert resp.status_code == 200, resp.content
    return resp.json()["token"]


def post_upload(token: str, name: str = "a.txt", data: bytes = b"hello", *, expect: int = 200,
                content_type: str = "text/plain"):
    """`POST /upload/<token>` with no Authorization header, as FileAgo's curl example does."""
    resp = Client().post(f"/upload/{token}", {"file": SimpleUploadedFile(name, data, content_type=content_type)},
                         format="multipart")
    assert resp.status_code == expect, resp.content
    return resp


def fa_upload(client, ref: str, name: str = "a.txt", data: bytes = b"hello") -> str:
    """Upload into folder `ref` (or a new revision of file `ref`); returns the file's UUID."""
    post_upload(upload_token(client, ref), name, data)
    if ref.count("-") == 4 and details(client, ref)["type"] == "File":
        return ref
    return entry(client, ref, name)["uuid"]
