"""Tokens and sessions: refresh rotation, replay, logout, extend, and attacks on the JWT."""

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import AuthSession

from .helpers import bearer, claims_of, forge, otp_sign_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def signed_in(api_client, whatsapp_outbox):
    return otp_sign_in(api_client, whatsapp_outbox)


def _check(api_client, token):
    return api_client.get("/api/session/check", **bearer(token))


def test_no_token_is_401_no_token(api_client):
    resp = api_client.get("/api/session/check")
    assert resp.status_code == 401
    assert resp.json() == {"success": False, "error": {"code": "NO_TOKEN", "message": "Authentication required."}}


def test_refresh_rotates_and_old_token_still_works_until_reuse(api_client, signed_in):
    resp = api_client.post("/api/token/refresh", {"refreshToken": signed_in["refreshToken"]}, format="json")
    assert resp.status_code == 200
    new = resp.json()["data"]
    assert new["refreshToken"] != signed_in["refreshToken"]
    assert _check(api_client, new["token"]).status_code == 200
    assert claims_of(new["token"])["sid"] == claims_of(signed_in["token"])["sid"]


def test_reused_refresh_token_ends_the_session(api_client, signed_in):
    rotated = api_client.post("/api/token/refresh", {"refreshToken": signed_in["refreshToken"]}, format="json")
    new = rotated.json()["data"]
    replay = api_client.post("/api/token/refresh", {"refreshToken": signed_in["refreshToken"]}, format="json")
    assert replay.status_code == 401
    assert replay.json()["error"]["code"] == "INVALID_TOKEN"
    # The whole session is gone: the legitimate holder's tokens stop too.
    assert _check(api_client, new["token"]).status_code == 401
    again = api_client.post("/api/token/refresh", {"refreshToken": new["refreshToken"]}, format="json")
    assert again.status_code == 401
    assert AuthSession.objects.get().revoke_reason == "refresh_reuse"


def test_logout_ends_access_and_refresh_tokens(api_client, signed_in):
    resp = api_client.post("/api/logout", **bearer(signed_in["token"]))
    assert resp.status_code == 200
    assert resp.json() == {"success": True, "message": "Logged out"}
    after = _check(api_client, signed_in["token"])
    assert after.status_code == 401
    assert after.json()["error"]["code"] == "INVALID_TOKEN"
    refresh = api_client.post("/api/token/refresh", {"refreshToken": signed_in["refreshToken"]}, format="json")
    assert refresh.status_code == 401


def test_logout_ends_only_its_own_session(api_client, whatsapp_outbox, settings):
    settings.OTP_RESEND_INTERVAL = timedelta(0)
    phone_a = otp_sign_in(api_client, whatsapp_outbox)
    phone_b = otp_sign_in(api_client, whatsapp_outbox)
    api_client.post("/api/logout", **bearer(phone_a["token"]))
    assert _check(api_client, phone_b["token"]).status_code == 200


def test_extend_pushes_expiry_and_gives_fresh_access(api_client, signed_in):
    session = AuthSession.objects.get()
    AuthSession.objects.filter(pk=session.pk).update(expires_at=timezone.now() + timedelta(hours=1))
    resp = api_client.post("/api/session/extend", **bearer(signed_in["token"]))
    assert resp.status_code == 200
    data = resp.json()["data"]
    assert data["expiresIn"] == 86400
    assert _check(api_client, data["token"]).status_code == 200
    session.refresh_from_db()
    assert session.expires_at > timezone.now() + timedelta(days=29)
    # The refresh token is untouched by extend.
    assert api_client.post("/api/token/refresh", {"refreshToken": signed_in["refreshToken"]},
                           format="json").status_code == 200


def test_expired_session_refuses_its_tokens(api_client, signed_in):
    AuthSession.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    assert _check(api_client, signed_in["token"]).status_code == 401
    assert api_client.post("/api/token/refresh", {"refreshToken": signed_in["refreshToken"]},
                           format="json").status_code == 401


def test_access_token_cannot_refresh(api_client, signed_in):
    resp = api_client.post("/api/token/refresh", {"refreshToken": signed_in["token"]}, format="json")
    assert resp.status_code == 401
    assert resp.json()["error"]["code"] == "INVALID_TOKEN"


def test_refresh_token_cannot_authenticate(api_client, signed_in):
    resp = _check(api_client, signed_in["refreshToken"])
    assert resp.status_code == 401
    assert resp.json()["error"]["code"] == "INVALID_TOKEN"


@pytest.mark.parametrize("attack", ["alg_none", "other_key", "expired", "tampered", "garbage", "no_session",
                                    "other_users_session"])
def test_forged_tokens_are_401(api_client, signed_in, make_user, attack):
    claims = claims_of(signed_in["token"])
    token = {
        "alg_none": lambda: forge(claims, alg="none"),
        "other_key": lambda: forge(claims, key="not-the-server-key-" * 3),
        "expired": lambda: forge({**claims, "exp": int((timezone.now() - timedelta(seconds=5)).timestamp())}),
        "tampered": lambda: signed_in["token"][:-4] + ("AAAA" if not signed_in["token"].endswith("AAAA") else "BBBB"),
        "garbage": lambda: "not.a.jwt",
        "no_session": lambda: forge({k: v for k, v in claims.items() if k != "sid"}),
        "other_users_session": lambda: forge({**claims, "user_id": str(make_user().uuid)}),
    }[attack]()
    resp = _check(api_client, token)
    assert resp.status_code == 401
    assert resp.json()["error"]["code"] == "INVALID_TOKEN"


def test_deactivated_users_tokens_stop(api_client, signed_in):
    from accounts.models import User

    User.objects.update(is_active=False)
    resp = _check(api_client, signed_in["token"])
    assert resp.status_code == 404
    assert resp.json()["error"]["code"] == "USER_INACTIVE"
    refresh = api_client.post("/api/token/refresh", {"refreshToken": signed_in["refreshToken"]}, format="json")
    assert refresh.status_code == 404
    assert refresh.json()["error"]["code"] == "USER_INACTIVE"


def test_revoked_session_stops_at_once(api_client, signed_in):
    from accounts import services

    services.session_revoke(session=AuthSession.objects.get(), reason="admin")
    assert _check(api_client, signed_in["token"]).status_code == 401


def test_bad_refresh_body_is_400(api_client):
    resp = api_client.post("/api/token/refresh", {}, format="json")
    assert resp.status_code == 400
    assert resp.json()["error"]["code"] == "VALIDATION_ERROR"


def test_session_check_reports_the_session(api_client, signed_in):
    data = _check(api_client, signed_in["token"]).json()["data"]
    assert data["valid"] is True
    assert data["session"]["id"] == claims_of(signed_in["token"])["sid"]
    assert data["session"]["client"] == "web"
