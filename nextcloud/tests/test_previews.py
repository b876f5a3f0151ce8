"""Thumbnails at /index.php/core/preview as the Nextcloud apps ask for them: from the
preview pipeline, never the original, 404 while none is ready, nobody else's."""

import io

import pytest
from PIL import Image

from accounts import services as accounts
from dav.tests.helpers import Dav
from storage_site.testing.client import Client

pytestmark = pytest.mark.django_db


def _png(width=600, height=400) -> bytes:
    image = io.BytesIO()
    Image.new("RGB", (width, height), "teal").save(image, "PNG")
    return image.getvalue()


@pytest.fixture
def nc_dav(user, app_password):
    return Dav(user.username, app_password)


def _put(nc_dav, user, name, data) -> str:
    answer = nc_dav.put(f"/remote.php/dav/files/{user.username}/{name}", data)
    assert answer.status == 201
    return str(int(answer.headers["OC-FileId"][:8]))


def test_a_thumbnail_by_file_id_and_by_path(nc_dav, user):
    original = _png()
    file_id = _put(nc_dav, user, "photo.png", original)
    small = nc_dav.get(f"/index.php/core/preview?fileId={file_id}&x=64&y=64&a=1")
    assert small.status == 200 and small.headers["Content-Type"] in ("image/webp", "image/jpeg")
    assert small.headers["X-Content-Type-Options"] == "nosniff" and small.body != original
    assert max(Image.open(io.BytesIO(small.body)).size) <= 256
    large = nc_dav.get(f"/index.php/core/preview?fileId={file_id}&x=1024&y=1024")
    assert large.status == 200 and large.body != original and large.body != small.body
    by_path = nc_dav.get("/index.php/core/preview.png?file=/photo.png&x=32&y=32")
    assert by_path.status == 200 and by_path.body == small.body
    again = nc_dav.get(f"/index.php/core/preview?fileId={file_id}&x=64&y=64",
                       HTTP_IF_NONE_MATCH=small.headers["ETag"])
    assert again.status == 304 and again.body == b""


def test_no_preview_is_404(nc_dav, user):
    file_id = _put(nc_dav, user, "notes.txt", b"just text")
    answer = nc_dav.get(f"/index.php/core/preview?fileId={file_id}&x=64&y=64")
    assert answer.status == 404 and b"just text" not in answer.body
    folder = nc_dav.request("MKCOL", f"/remote.php/dav/files/{user.username}/Folder")
    assert nc_dav.get(f"/index.php/core/preview?fileId={int(folder.headers['OC-FileId'][:8])}").status == 404


def test_another_users_file_is_a_made_up_one(nc_dav, user, other_user):
    file_id = _put(nc_dav, user, "mine.png", _png())
    other = Dav(other_user.username, accounts.app_password_create(user=other_user, name="phone")[1])
    theirs = other.get(f"/index.php/core/preview?fileId={file_id}&x=64&y=64")
    made_up = other.get("/index.php/core/preview?fileId=999999&x=64&y=64")
    assert theirs.status == made_up.status == 404 and theirs.body == made_up.body
    assert other.get("/index.php/core/preview.png?file=/mine.png").status == 404


@pytest.mark.parametrize("query", ["fileId=abc", "fileId=1&x=0", "fileId=1&x=big", "fileId=1&y=-3", ""])
def test_bad_parameters_are_400(nc_dav, query):
    assert nc_dav.get(f"/index.php/core/preview?{query}").status == 400


def test_signing_in_is_required(nc_dav, user):
    file_id = _put(nc_dav, user, "p.png", _png())
    assert Client().get(f"/index.php/core/preview?fileId={file_id}").status_code == 401
