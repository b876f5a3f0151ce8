"""/index.php/avatar/{user}/{size}: a generated PNG of one's own initials, cached by
ETag; nobody else's."""

import io

import pytest
from PIL import Image

from storage_site.testing.client import Client

pytestmark = pytest.mark.django_db


def test_own_avatar_is_a_png_of_the_size_asked_with_an_etag(nc, user):
    answer = nc.get(f"/index.php/avatar/{user.username}/64")
    assert answer.status_code == 200 and answer["Content-Type"] == "image/png"
    image = Image.open(io.BytesIO(answer.content))
    assert image.format == "PNG" and image.size == (64, 64)
    assert len(image.getcolors(maxcolors=1 << 20)) > 1  # initials drawn on the colour
    again = nc.get(f"/index.php/avatar/{user.username}/64", HTTP_IF_NONE_MATCH=answer["ETag"])
    assert again.status_code == 304 and again["ETag"] == answer["ETag"]
    dark = nc.get(f"/index.php/avatar/{user.username}/64/dark")
    assert dark.status_code == 200 and dark["ETag"] != answer["ETag"]
    assert Image.open(io.BytesIO(dark.content)).getpixel((0, 0)) != image.getpixel((0, 0))
    assert Image.open(io.BytesIO(nc.get(f"/index.php/avatar/{user.username}/99999").content)).size == (1024, 1024)


def test_the_colour_is_the_users_own(nc, other_nc, user, other_user):
    mine = Image.open(io.BytesIO(nc.get(f"/index.php/avatar/{user.username}/32").content))
    theirs = Image.open(io.BytesIO(other_nc.get(f"/index.php/avatar/{other_user.username}/32").content))
    assert mine.getpixel((0, 0)) != theirs.getpixel((0, 0))


def test_another_user_and_no_sign_in_get_nothing(nc, user, other_user):
    assert nc.get(f"/index.php/avatar/{other_user.username}/64").status_code == 404
    assert nc.get("/index.php/avatar/nobody-at-all/64").status_code == 404
    assert Client().get(f"/index.php/avatar/{user.username}/64").status_code == 401
    assert nc.post(f"/index.php/avatar/{user.username}/64").status_code == 405
