"""Login Flow v2 as a person meets it: the desktop app starts the flow, the login page
opens in a real browser (Debian's chromium through Playwright), the person signs in to
the web drive with their password and grants access; the app's poll then gets an app
password, and nextcloudcmd syncs with it. Against a real server (gunicorn)."""

import re
import shutil

import pytest
import requests

from dav.tests.test_clients import dav_server  # noqa: F401 (the real server, a fixture)
from nextcloud.tests.test_nextcloudcmd import local_files, server  # noqa: F401 (a fixture)
from nextcloud.tests.test_nc_py_api import ACCOUNT_PASSWORD
from storage_site.testing.browser import TIMEOUT_MS, needs_chromium

pytestmark = [needs_chromium, pytest.mark.skipif(not shutil.which("nextcloudcmd"),
                                                 reason="needs the nextcloud-desktop-cmd Debian package")]

# What the desktop app (3.7) sends; the page names the client after it.
AGENT = "Mozilla/5.0 (Linux) mirall/3.7.3 (Nextcloud, debian-6.1.0 ClientArchitecture: x86_64 OsArchitecture: x86_64)"


def test_a_login_approved_in_the_browser_gives_an_app_password_that_syncs(server, chromium, tmp_path):  # noqa: F811
    started = requests.post(server.root + "/index.php/login/v2", headers={"User-Agent": AGENT}, timeout=60)
    assert started.status_code == 200, started.text
    flow = started.json()

    def poll():
        return requests.post(flow["poll"]["endpoint"], data={"token": flow["poll"]["token"]}, timeout=60)

    assert poll().status_code == 404  # nobody has granted it yet

    context = chromium.new_context()
    context.set_default_timeout(TIMEOUT_MS)
    try:
        page = context.new_page()
        page.goto(flow["login"])
        page.wait_for_url(re.compile(r".*/signin\?next="))  # not signed in: the web drive's sign-in first
        page.fill("#identifier", server.login)
        page.fill("#password", ACCOUNT_PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.get_by_role("heading", name="Connect to your account").wait_for()
        assert "mirall/3.7.3" in page.content() and server.login in page.content()
        assert poll().status_code == 404  # seen, not granted
        page.get_by_role("button", name="Grant access").click()
        page.get_by_role("heading", name="Account connected").wait_for()
    finally:
        context.close()

    answer = poll()
    assert answer.status_code == 200, answer.text
    granted = answer.json()
    assert (granted["server"], granted["loginName"]) == (server.root, server.login)
    assert granted["appPassword"] != server.password
    assert poll().status_code == 404  # exactly once
    assert AGENT[:100] in [p["name"] for p in server.api("GET", "/api/app-passwords")]

    server.folder("ViaLoginFlow")
    local = tmp_path / "local"
    local.mkdir()
    (local / "hello.txt").write_bytes(b"signed in through the browser")
    server.sync(local, "/ViaLoginFlow", login=granted["loginName"], password=granted["appPassword"])
    down = tmp_path / "down"
    server.sync(down, "/ViaLoginFlow", login=granted["loginName"], password=granted["appPassword"])
    assert {name: path.read_bytes() for name, path in local_files(down).items()} == {
        "hello.txt": b"signed in through the browser"}
