import hashlib

from django.core.files.uploadedfile import SimpleUploadedFile


def upload(client, name: str, data: bytes = b"hello", *, folder: str | None = None, expect: int = 201,
           content_type: str = "application/octet-stream", **fields) -> dict:
    """Upload through the API; returns `data` of the answer (or the whole body when not 201)."""
    body = {"file": SimpleUploadedFile(name, data, content_type=content_type), **fields}
    if folder:
        body["folderId"] = folder
    resp = client.post("/api/files/upload", body, format="multipart")
    assert resp.status_code == expect, resp.content
    return resp.json()["data"] if expect == 201 else resp.json()


def share(client, file_id: str, **options) -> dict:
    """A share link for a file (POST /api/files/{id}/share); returns `data` of the answer."""
    resp = client.post(f"/api/files/{file_id}/share", options, format="json")
    assert resp.status_code == 201, resp.content
    return resp.json()["data"]


def content(resp) -> bytes:
    """The bytes of an answer, streamed or not."""
    return b"".join(resp.streaming_content) if resp.streaming else resp.content


def mkdir(client, name: str, parent: str | None = None, expect: int = 201) -> dict:
    body = {"name": name}
    if parent:
        body["parentId"] = parent
    resp = client.post("/api/folders/create", body, format="json")
    assert resp.status_code == expect, resp.content
    return resp.json()["data"] if expect == 201 else resp.json()


def download(client, file_id: str, **headers) -> bytes:
    resp = client.get(f"/api/files/{file_id}/download", **headers)
    assert resp.status_code == 200, resp.status_code
    return b"".join(resp.streaming_content)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def usage(client) -> dict:
    return client.get("/api/user/storage-stats").json()["data"]
