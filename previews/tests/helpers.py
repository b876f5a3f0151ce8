import io

from PIL import Image

from files.tests.helpers import upload  # noqa: F401  (re-exported for the preview tests)


def info(client, file_id: str, expect: int = 200) -> dict:
    resp = client.get(f"/api/files/{file_id}/preview-info")
    assert resp.status_code == expect, resp.content
    return resp.json()["data"] if expect == 200 else resp.json()


def preview(client, file_id: str, kind: str = "thumbnail", **headers):
    return client.get(f"/api/files/{file_id}/preview/{kind}", **headers)


def preview_image(client, file_id: str, kind: str = "thumbnail") -> tuple[Image.Image, bytes, object]:
    resp = preview(client, file_id, kind)
    assert resp.status_code == 200, resp.content
    body = b"".join(resp.streaming_content)
    image = Image.open(io.BytesIO(body))
    image.load()
    return image, body, resp
