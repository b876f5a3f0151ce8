"""MegaVault sign-in from a phone: register, sign in, device binding of refresh tokens."""

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import AuthSession, Client, User
from accounts.tests.factories import PASSWORD
from accounts.tests.helpers import bearer, claims_of
from backups.models import Device

from .helpers import device_info, mobile_register

pytestmark = pytest.mark.django_db


def test_register_creates_account_device_and_bound_session(api_client):
    resp = api_client.post("/api/mobile/auth/register", {
        "email": "John@Example.com", "password": PASSWORD, "name": "John Doe",
        "deviceInfo": {**device_info("device_unique_identifier"), "pushToken": "fcm_token_here"}}, format="json")
    assert resp.status_code == 200, resp.content
    body = resp.json()
    assert set(body) == {"success", "user", "tokens", "device", "syncData"}
    assert body["success"] is True
    assert body["user"]["email"] == "john@example.com" and body["user"]["name"] == "John Doe"
    assert body["tokens"]["expiresIn"] == "7d"
    assert body["device"]["name"] == "John's Pixel 7"
    assert body["device"]["isNew"] is True
    assert body["syncData"] == {"lastSyncAt": None, "pendingUploads": 0, "cacheSize": 0}
    session = AuthSession.objects.get()
    assert session.client == Client.MOBILE and session.device_id == "device_unique_identifier"
    claims = claims_of(body["tokens"]["accessToken"])
    assert claims["exp"] - claims["iat"] == 7 * 86400
    device = Device.objects.get()
    assert str(device.uuid) == body["device"]["id"] and device.push.token == "fcm_token_here"
    # The token works on the rest of the API.
    assert api_client.get("/api/mobile/devices", **bearer(body["tokens"]["accessToken"])).status_code == 200


def test_existing_account_signs_in_with_right_password(api_client, user):
    body = mobile_register(api_client, user.email)
    assert body["user"]["id"] == str(user.uuid)
    assert User.objects.count() == 1
    assert Device.objects.filter(owner=user).count() == 1


def test_wrong_password_is_401_and_nothing_created(api_client, user):
    body = mobile_register(api_client, user.email, password="wrong password!", expect=401)
    assert body["error"]["code"] == "INVALID_CREDENTIALS"
    assert not Device.objects.exists() and not AuthSession.objects.exists()


def test_weak_password_for_new_account_is_400(api_client):
    body = mobile_register(api_client, "new@example.com", password="123", expect=400)
    assert body["success"] is False
    assert not User.objects.exists() and not Device.objects.exists()


def test_same_device_again_is_not_a_new_device(api_client, user):
    first = mobile_register(api_client, user.email, device_id="phone-1")
    again = mobile_register(api_client, user.email, device_id="phone-1", appVersion="1.3.0")
    assert again["device"]["id"] == first["device"]["id"] and again["device"]["isNew"] is False
    assert Device.objects.get().app_version == "1.3.0"


def test_device_over_limit_is_403_and_nothing_created(api_client, user):
    User.objects.filter(pk=user.pk).update(device_limit=2)
    mobile_register(api_client, user.email, device_id="a")
    mobile_register(api_client, user.email, device_id="b")
    sessions = AuthSession.objects.count()
    body = mobile_register(api_client, user.email, device_id="c", expect=403)
    assert body["error"]["code"] == "DEVICE_LIMIT_REACHED"
    assert body["error"]["details"] == {"limit": 2, "devices": 2}
    assert AuthSession.objects.count() == sessions
    assert sorted(Device.objects.values_list("device_id", flat=True)) == ["a", "b"]
    # A device already registered still signs in.
    mobile_register(api_client, user.email, device_id="a")


def test_new_account_over_limit_leaves_no_account(api_client, settings, monkeypatch):
    from backups.services import devices

    def refuse(**kwargs):
        raise devices.DeviceLimitReached()

    monkeypatch.setattr(devices, "device_register", refuse)
    mobile_register(api_client, "fresh@example.com", expect=403)
    assert not User.objects.filter(email="fresh@example.com").exists()
    assert not AuthSession.objects.exists()


def test_no_device_limit_for_unlimited_plan(api_client, user):
    User.objects.filter(pk=user.pk).update(device_limit=None)
    for n in range(5):
        mobile_register(api_client, user.email, device_id=f"d{n}")
    assert Device.objects.live().count() == 5


def _refresh(api_client, token, device_id):
    return api_client.post("/api/mobile/auth/refresh", {"refreshToken": token, "deviceId": device_id},
                           format="json")


def test_refresh_with_own_device_rotates(api_client, user):
    tokens = mobile_register(api_client, user.email, device_id="phone-1")["tokens"]
    resp = _refresh(api_client, tokens["refreshToken"], "phone-1")
    assert resp.status_code == 200, resp.content
    new = resp.json()["tokens"]
    assert new["refreshToken"] != tokens["refreshToken"] and new["expiresIn"] == "7d"
    assert api_client.get("/api/mobile/devices", **bearer(new["accessToken"])).status_code == 200


def test_refresh_with_another_device_id_is_refused_and_changes_nothing(api_client, user):
    tokens = mobile_register(api_client, user.email, device_id="phone-1")["tokens"]
    before = AuthSession.objects.values("refresh_jti", "revoked_at").get()
    resp = _refresh(api_client, tokens["refreshToken"], "attacker-phone")
    assert resp.status_code == 401
    assert resp.json()["error"]["code"] == "INVALID_TOKEN"
    assert AuthSession.objects.values("refresh_jti", "revoked_at").get() == before
    # The phone's own token was not used up.
    assert _refresh(api_client, tokens["refreshToken"], "phone-1").status_code == 200


def test_device_bound_token_is_refused_by_the_device_less_refresh(api_client, user):
    tokens = mobile_register(api_client, user.email, device_id="phone-1")["tokens"]
    resp = api_client.post("/api/token/refresh", {"refreshToken": tokens["refreshToken"]}, format="json")
    assert resp.status_code == 401
    assert _refresh(api_client, tokens["refreshToken"], "phone-1").status_code == 200


def test_web_token_cannot_be_refreshed_as_a_device(api_client, auth_client):
    resp = _refresh(api_client, auth_client.sign_in.refresh, "phone-1")
    assert resp.status_code == 401


def test_replayed_refresh_ends_the_session(api_client, user):
    tokens = mobile_register(api_client, user.email, device_id="phone-1")["tokens"]
    assert _refresh(api_client, tokens["refreshToken"], "phone-1").status_code == 200
    assert _refresh(api_client, tokens["refreshToken"], "phone-1").status_code == 401
    assert AuthSession.objects.get().revoke_reason == "refresh_reuse"


def test_expired_mobile_token_is_401(api_client, user, settings):
    settings.MOBILE_ACCESS_TOKEN_LIFETIME = timedelta(seconds=-1)
    tokens = mobile_register(api_client, user.email)["tokens"]
    assert api_client.get("/api/mobile/devices", **bearer(tokens["accessToken"])).status_code == 401
    assert timezone.now()  # the server-side session is still live; only the access token expired
    assert AuthSession.objects.get().is_live


def test_new_device_sends_security_push_to_other_devices(api_client, user, outbox):
    mobile_register(api_client, user.email, device_id="old", pushToken="tok-old")
    mobile_register(api_client, user.email, device_id="new", pushToken="tok-new", model="iPhone 15",
                    platform="ios")
    received = [m for m in outbox() if m["category"] == "security"]
    assert [m["token"] for m in received] == ["tok-old"]
    assert "iPhone 15" in received[0]["body"]
