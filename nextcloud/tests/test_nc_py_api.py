"""The nc-py-api library (nobody here wrote it) against a real server (gunicorn, two
worker processes, the storage of this test run): discovery, the user and quota,
files with ids, etags, checksums and favorites, public links, and Login Flow v2 with the page
approved over HTTP as a browser would (the web drive's sign-in, then the grant)."""

import datetime
import hashlib
import re
import threading
import time
import urllib.parse
import urllib.request

import pytest
import requests
from nc_py_api import Nextcloud, NextcloudException
from nc_py_api.files import ShareType

from dav.tests.test_clients import dav_server  # noqa: F401 (the real server, a fixture)

pytestmark = pytest.mark.filterwarnings("ignore:Sync Nextcloud:DeprecationWarning")


@pytest.fixture(scope="module")
def server(dav_server):  # noqa: F811
    return dav_server


def _nc(server, login=None, password=None) -> Nextcloud:
    return Nextcloud(nextcloud_url=server.url.removesuffix("/dav/"), nc_auth_user=login or server.login,
                     nc_auth_pass=password or server.password)


def test_discovery_user_and_quota(server):
    nc = _nc(server)
    assert nc.user == "davtester"
    assert nc.srv_version["major"] >= 30
    assert nc.capabilities["core"]["webdav-root"] == "remote.php/webdav"
    profile = nc.users.get_user("davtester")
    stats = server.api("/api/user/storage-stats")
    assert profile.quota["used"] == stats["used"] and profile.quota["free"] == stats["available"]
    assert profile.quota["total"] == stats["quota"]
    with pytest.raises(NextcloudException):
        _nc(server, password="wrong-password").user


def test_files_ids_etags_checksums_and_favorites(server):
    nc = _nc(server)
    nc.files.mkdir("NcPhotos")
    content = "Grüße".encode() * 1000
    uploaded = nc.files.upload("NcPhotos/ünïcode.txt", content)
    assert uploaded.etag.strip('"') == hashlib.sha256(content).hexdigest()  # OC-ETag
    listed = nc.files.listdir("NcPhotos")
    assert [node.name for node in listed] == ["ünïcode.txt"]
    node = listed[0]
    assert node.file_id == uploaded.file_id and node.file_id.startswith(f"{node.info.fileid:08d}")  # OC-FileId
    assert node.info.size == len(content)
    assert node.info.permissions == "RGDNVW" and not node.is_dir and not node.info.favorite
    assert nc.files.download("NcPhotos/ünïcode.txt") == content

    folder = nc.files.by_path("NcPhotos")
    assert folder.is_dir and folder.info.size == len(content)

    nc.files.setfav("NcPhotos/ünïcode.txt", True)
    assert nc.files.by_path("NcPhotos/ünïcode.txt").info.favorite
    starred = server.api("/api/files/list?starred=true")["items"]
    assert [item["name"] for item in starred] == ["ünïcode.txt"]

    link = nc.files.sharing.create("NcPhotos/ünïcode.txt", ShareType.TYPE_LINK,
                                   password="link-password",
                                   expire_date=datetime.date.today() + datetime.timedelta(days=3))
    assert link.url.endswith("/s/" + link.token) and link.path.lstrip("/") == "NcPhotos/ünïcode.txt"
    assert [share.share_id for share in nc.files.sharing.get_list(path="NcPhotos/ünïcode.txt")] == [link.share_id]
    with urllib.request.urlopen(server.url.replace("/dav/", f"/api/public/shares/{link.token}"), timeout=60) as r:
        assert b'"hasPassword":true' in r.read().replace(b" ", b"")
    nc.files.sharing.delete(link)
    assert nc.files.sharing.get_list() == []

    nc.files.delete("NcPhotos/ünïcode.txt")
    assert nc.files.listdir("NcPhotos") == []


def test_trash_bin(server):
    nc = _nc(server)
    assert nc.capabilities["files"]["undelete"] is True
    nc.files.mkdir("NcTrash")
    nc.files.upload("NcTrash/kéép me.txt", b"keep me")
    nc.files.upload("NcTrash/drop.txt", b"drop me")
    nc.files.upload("NcTrash/more.txt", b"more")
    for name in ("kéép me.txt", "drop.txt", "more.txt"):
        nc.files.delete(f"NcTrash/{name}")
    listed = {entry.info.trashbin_filename: entry for entry in nc.files.trashbin_list()}
    assert {"kéép me.txt", "drop.txt", "more.txt"} <= set(listed)
    keep = listed["kéép me.txt"]
    assert keep.info.trashbin_original_location == "NcTrash/kéép me.txt" and keep.info.size == 7
    assert keep.info.trashbin_deletion_time > 0
    nc.files.trashbin_restore(keep)
    assert nc.files.download("NcTrash/kéép me.txt") == b"keep me"
    nc.files.trashbin_delete(listed["drop.txt"])
    names = [entry.info.trashbin_filename for entry in nc.files.trashbin_list()]
    assert "kéép me.txt" not in names and "drop.txt" not in names and "more.txt" in names
    nc.files.trashbin_cleanup()
    assert nc.files.trashbin_list() == []
    assert server.api("/api/trash")["items"] == []
    nc.files.delete("NcTrash")
    nc.files.trashbin_cleanup()


def test_versions(server):
    nc = _nc(server)
    for content in (b"version one", b"version two!"):
        file = nc.files.upload("nc-versions.txt", content)
    versions = nc.files.get_versions(file)
    assert [version.info.size for version in versions] == [12, 11]
    nc.files.restore_version(versions[-1])
    assert nc.files.download("nc-versions.txt") == b"version one"
    assert len(nc.files.get_versions(nc.files.by_path("nc-versions.txt"))) == 3
    nc.files.delete("nc-versions.txt")
    nc.files.trashbin_cleanup()


def test_search_and_favorites(server):
    nc = _nc(server)
    nc.files.mkdir("NcFind")
    nc.files.upload("NcFind/holiday photo.jpg", b"\xff\xd8\xff" + b"j" * 200)
    nc.files.upload("NcFind/holiday notes.txt", b"notes")
    nc.files.upload("NcFind/other.txt", b"other")
    found = nc.files.find(["like", "name", "holiday%"], path="NcFind")
    assert sorted(node.name for node in found) == ["holiday notes.txt", "holiday photo.jpg"]
    found = nc.files.find(["and", "like", "name", "%holiday%", "gt", "size", 100], path="NcFind")
    assert [node.name for node in found] == ["holiday photo.jpg"]
    assert found[0].info.fileid == nc.files.by_path("NcFind/holiday photo.jpg").info.fileid
    nc.files.setfav("NcFind/other.txt", True)
    assert [node.user_path for node in nc.files.list_by_criteria(["favorite"])] == ["NcFind/other.txt"]
    assert [node.name for node in nc.files.find(["eq", "favorite", 1])] == ["other.txt"]
    nc.files.setfav("NcFind/other.txt", False)
    assert nc.files.list_by_criteria(["favorite"]) == []
    nc.files.delete("NcFind")
    nc.files.trashbin_cleanup()


ACCOUNT_PASSWORD = "not-the-dav-password"  # the test account's (dav/tests/test_clients.py)


def _grant(login_url: str, login: str) -> None:
    """What a person does in the browser: open the page, sign in to the web drive, grant."""
    browser = requests.Session()

    def call(method, url, **kwargs):
        answer = browser.request(method, urllib.parse.urljoin(login_url, url), allow_redirects=False, timeout=60,
                                 **kwargs)
        for cookie in answer.cookies:  # Secure cookies (production settings) over this plain-HTTP test server
            browser.cookies.set(cookie.name, cookie.value)
        return answer

    def csrf(html: str) -> str:
        return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html).group(1)

    to_sign_in = call("GET", login_url)
    assert to_sign_in.status_code == 302 and to_sign_in.headers["Location"].startswith("/signin?next=")
    form = call("GET", to_sign_in.headers["Location"])
    signed = call("POST", "/signin/password", data={
        "csrfmiddlewaretoken": csrf(form.text), "identifier": login, "password": ACCOUNT_PASSWORD,
        "next": urllib.parse.urlparse(login_url).path})
    assert signed.status_code == 302, signed.text[-2000:]
    page = call("GET", login_url)
    assert page.status_code == 200 and "nc-py-api test" in page.text
    granted = call("POST", login_url, data={"csrfmiddlewaretoken": csrf(page.text), "grant": "1"})
    assert granted.status_code == 200 and "Account connected" in granted.text


def test_login_flow_v2(server):
    nc = Nextcloud(nextcloud_url=server.url.removesuffix("/dav/"))
    flow = nc.loginflow_v2.init(user_agent="nc-py-api test")
    # The person signs in while the client polls (404 until then).
    threading.Thread(target=lambda: (time.sleep(2), _grant(flow.login, server.login))).start()
    credentials = nc.loginflow_v2.poll(flow.token, timeout=60)
    assert credentials.login_name == "davtester" and credentials.server == server.url.removesuffix("/dav/")
    assert credentials.app_password != server.password
    assert nc.user == "davtester"  # the session now signs in with the new app password
    names = [p["name"] for p in server.api("/api/app-passwords")]
    assert "nc-py-api test" in names
