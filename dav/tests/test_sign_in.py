"""Signing in to /dav/: app passwords (made, listed and revoked through the API),
the account password unless WEBDAV_ACCOUNT_PASSWORDS is off, throttling of wrong
passwords, and no anonymous access."""

import pytest

from accounts.models import AppPassword
from accounts.tests.factories import PASSWORD

from .helpers import Dav

pytestmark = pytest.mark.django_db


def _create(client, name="Laptop rclone"):
    resp = client.post("/api/app-passwords", {"name": name}, format="json")
    assert resp.status_code == 201, resp.content
    return resp.json()["data"]


def test_an_app_password_is_shown_once_stored_hashed_and_works(auth_client, user):
    created = _create(auth_client)
    assert created["login"] == user.username and len(created["password"]) >= 40
    listed = auth_client.get("/api/app-passwords").json()["data"]
    assert [(p["id"], p["name"], p["prefix"]) for p in listed] == \
        [(created["id"], "Laptop rclone", created["password"][:8])]
    assert "password" not in listed[0] and created["password"] not in str(listed)
    stored = AppPassword.objects.get()
    assert created["password"] not in (stored.secret_hash, stored.prefix + stored.secret_hash)

    assert Dav(user.username, created["password"]).propfind("/dav/", "0").status == 207
    # Any name the account is known by, with the app password.
    assert Dav(user.email, created["password"]).propfind("/dav/", "0").status == 207
    assert Dav(user.phone, created["password"]).propfind("/dav/", "0").status == 207
    assert auth_client.get("/api/app-passwords").json()["data"][0]["lastUsedAt"]


def test_a_revoked_app_password_stops_at_once(auth_client, user):
    created = _create(auth_client)
    dav = Dav(user.username, created["password"])
    assert dav.put("/dav/a.txt", b"a").status == 201
    assert auth_client.delete(f"/api/app-passwords/{created['id']}").status_code == 200
    assert dav.get("/dav/a.txt").status == 401
    assert auth_client.get("/api/app-passwords").json()["data"] == []


def test_another_user_cannot_see_or_revoke_an_app_password(auth_client, other_client, user):
    created = _create(auth_client)
    assert other_client.get("/api/app-passwords").json()["data"] == []
    resp = other_client.delete(f"/api/app-passwords/{created['id']}")
    assert resp.status_code == 404 and resp.json()["error"]["code"] == "NOT_FOUND"
    assert other_client.delete("/api/app-passwords/not-a-uuid").status_code == 404
    assert Dav(user.username, created["password"]).propfind("/dav/", "0").status == 207
    # Someone else's name with this user's app password is no sign-in.
    from accounts.models import User
    other = User.objects.exclude(pk=user.pk).get()
    assert Dav(other.username, created["password"]).propfind("/dav/", "0").status == 401


def test_app_passwords_need_a_signed_in_user_and_a_name(api_client, auth_client):
    assert api_client.get("/api/app-passwords").status_code == 401
    assert api_client.post("/api/app-passwords", {"name": "x"}, format="json").status_code == 401
    resp = auth_client.post("/api/app-passwords", {}, format="json")
    assert resp.status_code == 400 and resp.json()["success"] is False


def test_no_credentials_or_wrong_ones_are_401_with_a_basic_challenge(api_client, user):
    answer = api_client.generic("PROPFIND", "/dav/", HTTP_DEPTH="0")
    assert answer.status_code == 401 and answer["WWW-Authenticate"].startswith("Basic ")
    assert api_client.generic("GET", "/dav/", HTTP_AUTHORIZATION="Bearer x").status_code == 401
    assert Dav(user.username, "wrong").propfind("/dav/", "0").status == 401
    assert Dav("nobody", PASSWORD).propfind("/dav/", "0").status == 401


def test_the_account_password_works_unless_turned_off(user, settings):
    assert Dav(user.username, PASSWORD).propfind("/dav/", "0").status == 207
    assert Dav(user.email, PASSWORD).propfind("/dav/", "0").status == 207
    settings.WEBDAV_ACCOUNT_PASSWORDS = False
    assert Dav(user.username, PASSWORD).propfind("/dav/", "0").status == 401


def test_a_phone_otp_account_signs_in_with_an_app_password(make_user, client_for):
    phone_only = make_user(password=None)
    phone_only.set_unusable_password()
    phone_only.save()
    created = _create(client_for(phone_only), "Android file manager")
    assert Dav(phone_only.phone, created["password"]).put("/dav/photo.jpg", b"jpeg").status == 201
    assert Dav(phone_only.username, "").propfind("/dav/", "0").status == 401


def test_a_deactivated_user_is_refused(auth_client, user):
    created = _create(auth_client)
    user.is_active = False
    user.save(update_fields=["is_active"])
    assert Dav(user.username, created["password"]).propfind("/dav/", "0").status == 401


def test_wrong_passwords_are_throttled_then_refused_even_when_right(user, settings, app_password):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {
        **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "password_login": "3/min"}}
    for _ in range(3):
        assert Dav(user.username, "guess").propfind("/dav/", "0").status == 401
    locked = Dav(user.username, app_password).propfind("/dav/", "0")
    assert locked.status == 429 and int(locked.headers["Retry-After"]) > 0
    # The name is locked from anywhere, not only from this address.
    elsewhere = Dav(user.username, app_password)
    answer = elsewhere.request("PROPFIND", "/dav/", HTTP_DEPTH="0", REMOTE_ADDR="10.9.8.7")
    assert answer.status == 429
