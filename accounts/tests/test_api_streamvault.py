"""StreamVault v5 accounts: register, login, me, refresh."""

import pytest

from .factories import PASSWORD
from .helpers import bearer

pytestmark = pytest.mark.django_db

REGISTER = {"email": "user@example.com", "username": "user1", "password": "securePassword123"}


def test_register_login_me(api_client):
    resp = api_client.post("/storage/api/v5/register/", REGISTER, format="json")
    assert resp.status_code == 201
    body = resp.json()
    assert body == {"id": body["id"], "email": "user@example.com", "username": "user1",
                    "message": "User registered successfully"}
    assert isinstance(body["id"], int)

    resp = api_client.post("/storage/api/v5/login/", {"email": "user@example.com", "password": "securePassword123"},
                           format="json")
    assert resp.status_code == 200
    tokens = resp.json()
    assert set(tokens) == {"access", "refresh", "message"}
    assert tokens["message"] == "Login successful"

    me = api_client.get("/storage/api/v5/me/", **bearer(tokens["access"]))
    assert me.status_code == 200
    assert set(me.json()) == {"id", "email", "username", "date_joined"}
    assert me.json()["id"] == body["id"]
    assert me.json()["username"] == "user1"


def test_register_duplicate_email_is_400(api_client, make_user):
    make_user(email="user@example.com")
    resp = api_client.post("/storage/api/v5/register/", REGISTER, format="json")
    assert resp.status_code == 400
    assert resp.json()["message"] == "A user with this e-mail already exists."
    assert "errors" in resp.json()


def test_register_duplicate_email_any_case_is_400(api_client, make_user):
    make_user(email="user@example.com")
    resp = api_client.post("/storage/api/v5/register/", {**REGISTER, "email": "USER@example.com"}, format="json")
    assert resp.status_code == 400


@pytest.mark.parametrize("change", [{"password": "123"}, {"password": "password"}, {"email": "nope"},
                                    {"username": ""}, {"username": "a/b"}, {"email": None}])
def test_register_bad_input_is_400(api_client, change):
    resp = api_client.post("/storage/api/v5/register/", {**REGISTER, **change}, format="json")
    assert resp.status_code == 400
    assert "message" in resp.json()


def test_login_wrong_password_is_401(api_client, user):
    resp = api_client.post("/storage/api/v5/login/", {"email": user.email, "password": "wrong"}, format="json")
    assert resp.status_code == 401
    assert resp.json() == {"message": "Invalid credentials.", "code": "INVALID_CREDENTIALS"}


def test_login_unknown_email_answers_like_wrong_password(api_client, user):
    unknown = api_client.post("/storage/api/v5/login/", {"email": "ghost@example.com", "password": PASSWORD},
                              format="json")
    wrong = api_client.post("/storage/api/v5/login/", {"email": user.email, "password": "wrong"}, format="json")
    assert unknown.status_code == wrong.status_code == 401
    assert unknown.json() == wrong.json()


def test_login_of_inactive_user_is_refused(api_client, make_user):
    inactive = make_user(is_active=False)
    resp = api_client.post("/storage/api/v5/login/", {"email": inactive.email, "password": PASSWORD}, format="json")
    assert resp.status_code == 401


def test_me_without_token_is_401_in_streamvault_shape(api_client):
    resp = api_client.get("/storage/api/v5/me/")
    assert resp.status_code == 401
    assert resp.json() == {"message": "Authentication required.", "code": "NO_TOKEN"}


def test_refresh_rotates(api_client, user):
    tokens = api_client.post("/storage/api/v5/login/", {"email": user.email, "password": PASSWORD},
                             format="json").json()
    resp = api_client.post("/storage/api/v5/token/refresh/", {"refresh": tokens["refresh"]}, format="json")
    assert resp.status_code == 200
    assert api_client.get("/storage/api/v5/me/", **bearer(resp.json()["access"])).status_code == 200
    replay = api_client.post("/storage/api/v5/token/refresh/", {"refresh": tokens["refresh"]}, format="json")
    assert replay.status_code == 401


def test_tokens_work_across_dialects(api_client, user):
    """One session model: a StreamVault token is a valid bearer on the primary API."""
    tokens = api_client.post("/storage/api/v5/login/", {"email": user.email, "password": PASSWORD},
                             format="json").json()
    check = api_client.get("/api/session/check", **bearer(tokens["access"]))
    assert check.status_code == 200
    assert check.json()["data"]["session"]["client"] == "streamvault"


def test_password_login_is_throttled(api_client, user):
    statuses = [api_client.post("/storage/api/v5/login/", {"email": user.email, "password": "wrong"},
                                format="json").status_code for _ in range(21)]
    assert statuses[:20] == [401] * 20
    assert statuses[20] == 429
