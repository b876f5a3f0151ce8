"""The nc-py-api library (nobody here wrote it) against a real server (gunicorn, two
worker processes, the storage of this test run): discovery, the user and quota,
files with ids, etags, checksums and favorites, public links, and Login Flow v2 with the page
approved over HTTP as a browser would."""

import datetime
import hashlib
import re
import threading
import time
import urllib.parse
import urllib.request

import pytest
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

    # (nc-py-api's move looks the result up by SEARCH, a later slice.)
    nc.files.delete("NcPhotos/ünïcode.txt")
    assert nc.files.listdir("NcPhotos") == []


def _grant(login_url: str, login: str, password: str) -> None:
    """What a person does in the browser: open the page, sign in, grant."""
    with urllib.request.urlopen(login_url, timeout=60) as page:
        html = page.read().decode()
        cookie = re.search(r"csrftoken=([^;]+)", page.headers.get("Set-Cookie", "")).group(1)
    form = {"csrfmiddlewaretoken": re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html).group(1),
            "user": login, "password": password, "grant": "1"}
    request = urllib.request.Request(login_url, data=urllib.parse.urlencode(form).encode(),
                                     headers={"Cookie": f"csrftoken={cookie}", "Referer": login_url})
    with urllib.request.urlopen(request, timeout=60) as granted:
        assert b"Account connected" in granted.read()


def test_login_flow_v2(server):
    nc = Nextcloud(nextcloud_url=server.url.removesuffix("/dav/"))
    flow = nc.loginflow_v2.init(user_agent="nc-py-api test")
    # The person signs in while the client polls (404 until then).
    threading.Thread(target=lambda: (time.sleep(2), _grant(flow.login, server.login, server.password))).start()
    credentials = nc.loginflow_v2.poll(flow.token, timeout=60)
    assert credentials.login_name == "davtester" and credentials.server == server.url.removesuffix("/dav/")
    assert credentials.app_password != server.password
    assert nc.user == "davtester"  # the session now signs in with the new app password
    names = [p["name"] for p in server.api("/api/app-passwords")]
    assert "nc-py-api test" in names
