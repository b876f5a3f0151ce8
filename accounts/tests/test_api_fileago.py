"""FileAgo sign-in: POST /auth."""

import json

import pytest

from accounts import services

from .factories import PASSWORD
from .helpers import bearer

pytestmark = pytest.mark.django_db


def test_auth_with_curl_style_body(api_client, user):
    # `curl -d '{...}'` sends JSON as application/x-www-form-urlencoded.
    body = json.dumps({"username": user.email, "password": PASSWORD})
    resp = api_client.post("/auth", data=body, content_type="application/x-www-form-urlencoded")
    assert resp.status_code == 200
    data = resp.json()
    assert set(data) == {"uuid", "token", "status", "msg", "is_admin", "fullname", "fileaccesskey", "avatar"}
    assert data["uuid"] == str(user.uuid)
    assert data["status"] == "success"
    assert data["msg"] == "Login successful."
    assert data["is_admin"] is False
    assert data["fullname"] == user.full_name
    assert len(data["fileaccesskey"]) >= 43  # 256 random bits
    assert data["avatar"] == "/images/default_avatar.png"
    assert api_client.get("/api/session/check", **bearer(data["token"])).status_code == 200


def test_auth_with_json_and_form(api_client, user):
    assert api_client.post("/auth", {"username": user.email, "password": PASSWORD}, format="json").status_code == 200
    form = api_client.post("/auth", data=f"username={user.email}&password={PASSWORD.replace(' ', '+')}",
                           content_type="application/x-www-form-urlencoded")
    assert form.status_code == 200


def test_admin_signs_in_as_admin(api_client, db):
    services.admin_ensure(email="root@example.com", password="Adm1n-passw0rd!", phone=None)
    resp = api_client.post("/auth", {"username": "admin", "password": "Adm1n-passw0rd!"}, format="json")
    assert resp.status_code == 200
    assert resp.json()["is_admin"] is True


def test_wrong_password_in_fileago_shape(api_client, user):
    resp = api_client.post("/auth", {"username": user.email, "password": "nope"}, format="json")
    assert resp.status_code == 401
    assert resp.json() == {"status": "error", "msg": "Invalid credentials."}


@pytest.mark.parametrize("body", ['{"username": "x"}', '{"username": ', "", "[]"])
def test_bad_bodies_are_400(api_client, body):
    resp = api_client.post("/auth", data=body, content_type="application/x-www-form-urlencoded")
    assert resp.status_code == 400
    assert resp.json()["status"] == "error"


def test_broken_json_with_json_type_is_400(api_client):
    resp = api_client.post("/auth", data="{nope", content_type="application/json")
    assert resp.status_code == 400
    assert resp.json()["status"] == "error"


def test_unknown_paths_are_json_404_in_each_dialect(api_client):
    assert api_client.get("/api/nodes-x/none").json() == {"status": "error", "msg": "Not found."}
    assert api_client.get("/api/no-such-endpoint").json()["error"]["code"] == "NOT_FOUND"
    assert api_client.get("/storage/api/v3/nothing/").json()["message"] == "Not found."
