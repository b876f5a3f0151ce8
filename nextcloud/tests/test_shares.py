"""The OCS Share API over Stratus' share links: public links to files with a
password and an expiry date, listed, changed and revoked, the same links as the
LayoodStorage API's; nobody else's."""

from datetime import timedelta
from xml.etree import ElementTree

import pytest
from django.utils import timezone

from files.models import ShareLink
from storage_site.testing.client import Client

pytestmark = pytest.mark.django_db

SHARES = "/ocs/v2.php/apps/files_sharing/api/v1/shares"


@pytest.fixture
def photo(nc, user):
    nc.generic("MKCOL", f"/remote.php/dav/files/{user.username}/Trip")
    answer = nc.generic("PUT", f"/remote.php/dav/files/{user.username}/Trip/photo.jpg", b"jpeg bytes",
                        content_type="image/jpeg")
    assert answer.status_code == 201
    return int(answer["OC-FileId"][:8])


def _ocs(response, status=200):
    assert response.status_code == status, response.content
    return response.json()["ocs"]["data"]


def test_create_list_get_and_download(nc, photo, user):
    made = _ocs(nc.post(SHARES + "?format=json", {"path": "/Trip/photo.jpg", "shareType": 3}))
    assert made["share_type"] == 3 and made["path"] == "/Trip/photo.jpg" and made["item_source"] == photo
    assert made["permissions"] == 1 and made["uid_owner"] == user.username and made["expiration"] is None
    assert made["url"] == f"http://testserver/s/{made['token']}" and made["item_type"] == "file"
    link = ShareLink.objects.get()
    assert made["id"] == str(link.pk) and made["token"] == link.token
    assert [s["id"] for s in _ocs(nc.get(SHARES + "?format=json"))] == [made["id"]]
    assert [s["id"] for s in _ocs(nc.get(SHARES + "?format=json&path=/Trip/photo.jpg"))] == [made["id"]]
    assert _ocs(nc.get(f"{SHARES}/{made['id']}?format=json"))[0]["token"] == made["token"]
    download = Client().get(f"/s/{made['token']}/download")
    assert download.status_code == 200 and b"".join(download.streaming_content) == b"jpeg bytes"


def test_parameters_in_the_query_string_json_and_xml(nc, photo):
    made = _ocs(nc.post(SHARES + "?format=json&path=/Trip/photo.jpg&shareType=3"))
    again = _ocs(nc.post(SHARES + "?format=json", {"path": "/Trip/photo.jpg", "shareType": 3}, format="json"))
    assert made["token"] != again["token"]
    root = ElementTree.fromstring(nc.get(SHARES).content)
    assert root.findtext("meta/statuscode") == "200" and len(root.findall("data/element")) == 2


def test_password_and_expiry(nc, photo):
    tomorrow = (timezone.now() + timedelta(days=1)).date().isoformat()
    made = _ocs(nc.post(SHARES + "?format=json", {"path": "/Trip/photo.jpg", "shareType": 3, "password": "s3cret!",
                                                   "expireDate": tomorrow}))
    assert made["expiration"] == tomorrow + " 00:00:00"  # the last day it works
    link = ShareLink.objects.get()
    assert link.has_password and "s3cret" not in str(made)
    assert Client().get(f"/s/{link.token}/download").status_code == 401  # needs the password
    grant = Client().post(f"/api/public/shares/{link.token}/unlock", {"password": "s3cret!"},
                          format="json").json()["data"]["grant"]
    assert Client().get(f"/s/{link.token}/download?grant={grant}").status_code == 200

    changed = _ocs(nc.put(f"{SHARES}/{made['id']}?format=json", "password=&expireDate=",
                          content_type="application/x-www-form-urlencoded"))
    assert changed["expiration"] is None
    assert Client().get(f"/s/{link.token}/download").status_code == 200
    _ocs(nc.put(f"{SHARES}/{made['id']}?format=json&password=again"))
    assert Client().get(f"/s/{link.token}/download").status_code == 401


def test_delete_revokes(nc, photo):
    made = _ocs(nc.post(SHARES + "?format=json", {"path": "/Trip/photo.jpg", "shareType": 3}))
    assert _ocs(nc.delete(f"{SHARES}/{made['id']}?format=json")) == []
    assert Client().get(f"/s/{made['token']}/download").status_code == 404
    assert _ocs(nc.get(SHARES + "?format=json")) == []
    assert nc.delete(f"{SHARES}/{made['id']}?format=json").status_code == 404


@pytest.mark.parametrize("params, status", [
    ({"path": "/Trip/photo.jpg", "shareType": 0, "shareWith": "bob"}, 400),  # user shares: not here
    ({"path": "/Trip/photo.jpg", "shareType": 3, "permissions": 15}, 400),  # public upload
    ({"path": "/Trip/photo.jpg", "shareType": 3, "publicUpload": "true"}, 400),
    ({"path": "/Trip/photo.jpg", "shareType": 3, "expireDate": "2001-01-01"}, 400),
    ({"path": "/Trip/photo.jpg", "shareType": 3, "expireDate": "soon"}, 400),
    ({"path": "/Trip/none.jpg", "shareType": 3}, 404),
    ({"path": "/Trip", "shareType": 3}, 404),  # links point to files
    ({"shareType": 3}, 404),
])
def test_bad_input_makes_nothing(nc, photo, params, status):
    answer = nc.post(SHARES + "?format=json", params)
    assert answer.status_code == status and answer.json()["ocs"]["meta"]["status"] == "failure"
    assert not ShareLink.objects.exists()


def test_another_user_reaches_no_link(nc, other_nc, photo):
    made = _ocs(nc.post(SHARES + "?format=json", {"path": "/Trip/photo.jpg", "shareType": 3}))
    assert _ocs(other_nc.get(SHARES + "?format=json")) == []
    for method in ("get", "put", "delete"):
        theirs = getattr(other_nc, method)(f"{SHARES}/{made['id']}?format=json&password=x")
        made_up = getattr(other_nc, method)(f"{SHARES}/999999?format=json&password=x")
        assert theirs.status_code == made_up.status_code == 404
        assert theirs.json()["ocs"]["meta"] == made_up.json()["ocs"]["meta"]
    assert other_nc.post(SHARES + "?format=json", {"path": "/Trip/photo.jpg", "shareType": 3}).status_code == 404
    link = ShareLink.objects.get()
    assert link.revoked_at is None and not link.has_password


def test_share_types_and_permissions_in_propfind(nc, photo, user):
    body = (b'<?xml version="1.0"?><d:propfind xmlns:d="DAV:" xmlns:oc="http://owncloud.org/ns"><d:prop>'
            b"<oc:share-types/><oc:permissions/></d:prop></d:propfind>")
    folder = f"/remote.php/dav/files/{user.username}/Trip/"

    def share_types():
        answer = nc.generic("PROPFIND", folder, body, content_type="application/xml", HTTP_DEPTH="1")
        root = ElementTree.fromstring(b"".join(answer.streaming_content))
        return {r.findtext("{DAV:}href"): [t.text for t in r.iter("{http://owncloud.org/ns}share-type")]
                for r in root.iter("{DAV:}response")}

    assert share_types()[folder + "photo.jpg"] == []
    made = _ocs(nc.post(SHARES + "?format=json", {"path": "/Trip/photo.jpg", "shareType": 3}))
    assert share_types() == {folder: [], folder + "photo.jpg": ["3"]}
    nc.delete(f"{SHARES}/{made['id']}?format=json")
    assert share_types()[folder + "photo.jpg"] == []


def test_the_link_url_is_the_share_page(nc, photo):
    made = _ocs(nc.post(SHARES + "?format=json", {"path": "/Trip/photo.jpg", "shareType": 3}))
    page = Client().get(made["url"].removeprefix("http://testserver"))
    assert page.status_code == 200 and b"photo.jpg" in page.content
