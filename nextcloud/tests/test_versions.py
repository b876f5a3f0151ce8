"""/remote.php/dav/versions/{userid}/versions/{fileid}: the versions of the other
APIs, their bytes (Range) and a restore by MOVE, nobody else's."""

from xml.etree import ElementTree

import pytest

from nextcloud.tests.test_webdav import D, OC

pytestmark = pytest.mark.django_db

VERSION_PROPS = ('<?xml version="1.0"?><d:propfind xmlns:d="DAV:"><d:prop><d:getlastmodified/>'
                 '<d:getcontentlength/><d:getetag/></d:prop></d:propfind>').encode()


def _fileid(dav, path) -> str:
    body = ('<?xml version="1.0"?><d:propfind xmlns:d="DAV:" xmlns:oc="http://owncloud.org/ns"><d:prop>'
            '<oc:fileid/></d:prop></d:propfind>').encode()
    return ElementTree.fromstring(dav.propfind(path, "0", body).body).findtext(f".//{OC}fileid")


def versions_of(dav, href) -> dict[str, dict]:
    answer = dav.propfind(href, "1", VERSION_PROPS)
    assert answer.status == 207, answer
    found = {}
    for response in ElementTree.fromstring(answer.body).iter(D + "response"):
        props = {p.tag: p.text for s in response.iter(D + "propstat") if "200" in s.findtext(D + "status")
                 for p in s.find(D + "prop")}
        if D + "getetag" in props:
            found[response.findtext(D + "href")] = props
    return found


@pytest.fixture
def versioned(nc_dav, base, user):
    for content in (b"first", b"second!", b"third, longest"):
        nc_dav.put(base + "/v.txt", content)
    fileid = _fileid(nc_dav, base + "/v.txt")
    return fileid, f"/remote.php/dav/versions/{user.username}/versions/{fileid}"


def test_versions_are_listed_newest_first_with_their_sizes(nc_dav, versioned, auth_client):
    fileid, href = versioned
    listed = versions_of(nc_dav, href)
    assert list(listed) == [f"{href}/3", f"{href}/2", f"{href}/1"]
    assert [props[D + "getcontentlength"] for props in listed.values()] == ["14", "7", "5"]
    node = auth_client.get("/api/files/list").json()["data"]["items"][0]
    api = auth_client.get(f"/api/files/{node['id']}/versions").json()["data"]
    assert len(api) == 3  # the same versions


def test_a_version_s_bytes_with_range(nc_dav, versioned):
    _, href = versioned
    assert nc_dav.get(href + "/2").body == b"second!"
    part = nc_dav.get(href + "/2", HTTP_RANGE="bytes=1-3")
    assert part.status == 206 and part.body == b"eco"
    assert nc_dav.get(href + "/9").status == 404 and nc_dav.get(href + "/x").status == 404


def test_restore_by_move_makes_a_new_current_version(nc_dav, base, versioned, user):
    _, href = versioned
    restore = f"/remote.php/dav/versions/{user.username}/restore/target"
    used = type(user).objects.get(pk=user.pk).storage_used
    assert nc_dav.move(href + "/1", restore).status == 204
    assert nc_dav.get(base + "/v.txt").body == b"first"
    assert list(versions_of(nc_dav, href))[0] == f"{href}/4"
    assert type(user).objects.get(pk=user.pk).storage_used == used + 5  # as the other APIs' restore
    assert user.changes.order_by("seq").last().action == "update"
    assert nc_dav.move(href + "/2", base + "/elsewhere.txt").status == 403


def test_over_quota_restore_is_507_and_keeps_everything(nc_dav, base, versioned, user):
    _, href = versioned
    type(user).objects.filter(pk=user.pk).update(storage_quota=type(user).objects.get(pk=user.pk).storage_used + 2)
    answer = nc_dav.move(href + "/2", f"/remote.php/dav/versions/{user.username}/restore/target")
    assert answer.status == 507, answer
    assert len(versions_of(nc_dav, href)) == 3
    assert type(user).objects.get(pk=user.pk).storage_reserved == 0


def test_folders_trashed_and_made_up_files_have_no_versions(nc_dav, base, user):
    nc_dav.mkcol(base + "/F")
    folder_id = _fileid(nc_dav, base + "/F/")
    nc_dav.put(base + "/gone.txt", b"x")
    gone_id = _fileid(nc_dav, base + "/gone.txt")
    nc_dav.delete(base + "/gone.txt")
    root = f"/remote.php/dav/versions/{user.username}/versions/"
    for fileid in (folder_id, gone_id, "999999", "abc", "1" * 30):
        assert nc_dav.propfind(root + fileid, "1", VERSION_PROPS).status == 404


def test_another_user_reaches_no_version(nc_dav, other_dav, versioned, other_user):
    fileid, href = versioned
    own = f"/remote.php/dav/versions/{other_user.username}"
    for method in ("PROPFIND", "GET", "MOVE"):
        assert other_dav.request(method, href + "/1", HTTP_DEPTH="1").status == 403
        assert other_dav.request(method, f"{own}/versions/{fileid}/1", HTTP_DEPTH="1",
                                 HTTP_DESTINATION=f"http://testserver{own}/restore/target").status == 404
    assert other_dav.propfind(f"{own}/versions/{fileid}", "1", VERSION_PROPS).status == 404
    assert nc_dav.get(href + "/3").body == b"third, longest"
