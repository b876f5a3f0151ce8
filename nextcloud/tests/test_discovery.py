"""Discovery as the Nextcloud apps and libraries do it: status.php, OCS envelopes in
JSON and XML for both versions, capabilities, the signed-in user and their quota."""

from xml.etree import ElementTree

import pytest

from accounts.tests.factories import PASSWORD
from dav.tests.helpers import Dav, basic
from storage_site.testing.client import Client

pytestmark = pytest.mark.django_db


def test_status_php_says_an_installed_current_nextcloud():
    status = Client().get("/status.php")
    assert status.status_code == 200
    body = status.json()
    assert body["installed"] is True and body["maintenance"] is False and body["needsDbUpgrade"] is False
    major = int(body["versionstring"].split(".")[0])
    assert major >= 30 and body["version"].startswith(body["versionstring"])
    assert body["productname"]


@pytest.mark.parametrize("version, code", [("1", 100), ("2", 200)])
def test_capabilities_json_without_sign_in(version, code):
    resp = Client().get(f"/ocs/v{version}.php/cloud/capabilities?format=json")
    assert resp.status_code == 200 and resp["Content-Type"].startswith("application/json")
    ocs = resp.json()["ocs"]
    assert ocs["meta"]["status"] == "ok" and ocs["meta"]["statuscode"] == code
    caps = ocs["data"]["capabilities"]
    assert caps["core"]["webdav-root"] == "remote.php/webdav" and caps["core"]["pollinterval"] > 0
    assert ocs["data"]["version"]["major"] >= 30
    # Nothing announced that does not work yet.
    assert caps["dav"] == {"chunking": "1.0"} and caps["files"]["bigfilechunking"]  # chunked upload works
    public = caps["files_sharing"]["public"]
    assert caps["files_sharing"]["api_enabled"] and public["enabled"] and not public["upload"]
    assert public["expire_date"]["enabled"] and not public["password"]["enforced"]
    assert caps["files"]["undelete"] is True and caps["files"]["versioning"] is True  # over DAV too
    assert not {"spreed", "end-to-end-encryption"} & set(caps)


def test_accept_json_also_chooses_json():
    resp = Client().get("/ocs/v2.php/cloud/capabilities", HTTP_ACCEPT="application/json, text/plain")
    assert resp.json()["ocs"]["meta"]["statuscode"] == 200


def test_xml_by_default():
    resp = Client().get("/ocs/v1.php/cloud/capabilities")
    assert resp["Content-Type"].startswith("application/xml")
    root = ElementTree.fromstring(resp.content)
    assert root.tag == "ocs" and root.findtext("meta/statuscode") == "100" and root.findtext("meta/status") == "ok"
    assert root.findtext("data/capabilities/core/webdav-root") == "remote.php/webdav"
    assert root.findtext("data/capabilities/files_sharing/public/upload") == ""  # false, as Nextcloud writes it
    assert root.findtext("data/capabilities/files/undelete") == "1"


@pytest.mark.parametrize("version", ["1", "2"])
def test_cloud_user_with_an_app_password(nc, user, version):
    resp = nc.get(f"/ocs/v{version}.php/cloud/user?format=json")
    assert resp.status_code == 200
    data = resp.json()["ocs"]["data"]
    assert data["id"] == user.username and data["email"] == user.email
    assert data["display-name"] == (user.full_name or user.username)


def test_cloud_user_with_the_account_password_and_any_name(user):
    for name in (user.username, user.email):
        client = Client()
        client.credentials(HTTP_AUTHORIZATION=basic(name, PASSWORD))
        data = client.get("/ocs/v2.php/cloud/user?format=json").json()["ocs"]["data"]
        assert data["id"] == user.username  # whatever name signed in, the id is one


def test_cloud_user_xml(nc, user):
    root = ElementTree.fromstring(nc.get("/ocs/v2.php/cloud/user").content)
    assert root.findtext("meta/statuscode") == "200" and root.findtext("data/id") == user.username


@pytest.mark.parametrize("version", ["1", "2"])
@pytest.mark.parametrize("auth", [None, "wrong"])
def test_no_or_wrong_sign_in_is_997_and_401(user, version, auth):
    client = Client()
    if auth:
        client.credentials(HTTP_AUTHORIZATION=basic(user.username, "not-" + PASSWORD))
    resp = client.get(f"/ocs/v{version}.php/cloud/user?format=json")
    assert resp.status_code == 401
    meta = resp.json()["ocs"]["meta"]
    assert meta["status"] == "failure" and meta["statuscode"] == 997
    assert resp["WWW-Authenticate"].startswith("Basic")


def test_wrong_passwords_are_throttled_as_for_webdav(user, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {
        **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "password_login": "3/min"}}
    client = Client()
    client.credentials(HTTP_AUTHORIZATION=basic(user.username, "wrong"))
    for _ in range(3):
        assert client.get("/ocs/v2.php/cloud/user?format=json").status_code == 401
    client.credentials(HTTP_AUTHORIZATION=basic(user.username, PASSWORD))
    resp = client.get("/ocs/v2.php/cloud/user?format=json")
    assert resp.status_code == 429 and resp["Retry-After"]
    assert resp.json()["ocs"]["meta"]["statuscode"] == 429


def test_quota_figures_are_storage_stats(nc, user, app_password, auth_client):
    assert Dav(user.username, app_password).put("/dav/a.bin", b"x" * 5000).status == 201
    stats = auth_client.get("/api/user/storage-stats").json()["data"]
    for path in ("/ocs/v2.php/cloud/users/%s?format=json" % user.username, "/ocs/v1.php/cloud/user?format=json"):
        quota = nc.get(path).json()["ocs"]["data"]["quota"]
        assert quota["used"] == stats["used"] == 5000
        assert quota["free"] == stats["available"] and quota["quota"] == quota["total"] == stats["quota"]
        assert quota["relative"] == round(100 * 5000 / stats["quota"], 2)


def test_another_users_id_is_not_found(nc, other_user):
    resp = nc.get(f"/ocs/v2.php/cloud/users/{other_user.username}?format=json")
    assert resp.status_code == 404 and resp.json()["ocs"]["meta"]["statuscode"] == 404
    assert other_user.email not in resp.content.decode()
    v1 = nc.get(f"/ocs/v1.php/cloud/users/{other_user.username}?format=json")
    assert v1.status_code == 200 and v1.json()["ocs"]["meta"]["statuscode"] == 998
    assert v1.json()["ocs"]["data"] == []


def test_an_unknown_route_is_an_ocs_404(nc):
    resp = nc.get("/ocs/v2.php/apps/spreed/api/v4/room?format=json")
    assert resp.status_code == 404 and resp.json()["ocs"]["meta"]["status"] == "failure"
