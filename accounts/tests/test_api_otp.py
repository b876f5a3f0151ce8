"""LayoodStorage WhatsApp OTP sign-in, through the HTTP API."""

from datetime import timedelta

import pytest

from accounts.models import Role, User

from .helpers import PHONE, otp_sign_in

pytestmark = pytest.mark.django_db


def test_first_sign_in_creates_client_account(api_client, whatsapp_outbox):
    resp = api_client.post("/api/login", {"phone": PHONE}, format="json")
    assert resp.status_code == 200
    assert resp.json() == {"success": True, "message": "OTP sent via WhatsApp",
                           "data": {"phone": PHONE, "expiresIn": 300}}
    [message] = whatsapp_outbox(PHONE)
    assert len(message["code"]) == 6 and message["code"].isdigit()

    resp = api_client.post("/api/verify-otp", {"phone": PHONE, "otp": message["code"]}, format="json")
    assert resp.status_code == 200
    body = resp.json()
    assert body["success"] is True
    data = body["data"]
    assert set(data) == {"token", "refreshToken", "expiresIn", "user"}
    assert data["expiresIn"] == 86400
    assert data["user"]["phone"] == PHONE
    assert data["user"]["role"] == "client"
    assert User.objects.get(phone=PHONE).role == Role.CLIENT

    check = api_client.get("/api/session/check", HTTP_AUTHORIZATION=f"Bearer {data['token']}")
    assert check.status_code == 200
    assert check.json()["data"]["user"]["id"] == data["user"]["id"]


def test_second_sign_in_reuses_the_account(api_client, whatsapp_outbox, settings):
    settings.OTP_RESEND_INTERVAL = timedelta(0)
    first = otp_sign_in(api_client, whatsapp_outbox)
    second = otp_sign_in(api_client, whatsapp_outbox)
    assert first["user"]["id"] == second["user"]["id"]
    assert User.objects.filter(phone=PHONE).count() == 1


def test_phone_is_normalised(api_client, whatsapp_outbox):
    resp = api_client.post("/api/login", {"phone": "+91 98123 45678"}, format="json")
    assert resp.json()["data"]["phone"] == PHONE
    assert whatsapp_outbox(PHONE)


def test_login_answer_is_the_same_for_known_and_unknown_phones(api_client, make_user):
    make_user(phone="+919811111111")
    known = api_client.post("/api/login", {"phone": "+919811111111"}, format="json")
    unknown = api_client.post("/api/login", {"phone": "+919822222222"}, format="json")
    assert known.status_code == unknown.status_code == 200
    known_body, unknown_body = known.json(), unknown.json()
    known_body["data"].pop("phone"), unknown_body["data"].pop("phone")
    assert known_body == unknown_body


def test_code_is_stored_hashed(api_client, whatsapp_outbox):
    from accounts.models import OtpChallenge

    api_client.post("/api/login", {"phone": PHONE}, format="json")
    code = whatsapp_outbox(PHONE)[-1]["code"]
    challenge = OtpChallenge.objects.get(phone=PHONE)
    assert code not in challenge.code_hash and len(challenge.code_hash) == 64


def test_code_is_single_use(api_client, whatsapp_outbox):
    api_client.post("/api/login", {"phone": PHONE}, format="json")
    code = whatsapp_outbox(PHONE)[-1]["code"]
    assert api_client.post("/api/verify-otp", {"phone": PHONE, "otp": code}, format="json").status_code == 200
    again = api_client.post("/api/verify-otp", {"phone": PHONE, "otp": code}, format="json")
    assert again.status_code == 400
    assert again.json()["error"]["code"] == "INVALID_OTP"


def test_expired_code_is_refused(api_client, whatsapp_outbox, settings):
    settings.OTP_TTL = timedelta(seconds=-1)
    api_client.post("/api/login", {"phone": PHONE}, format="json")
    code = whatsapp_outbox(PHONE)[-1]["code"]
    resp = api_client.post("/api/verify-otp", {"phone": PHONE, "otp": code}, format="json")
    assert resp.status_code == 400
    assert resp.json()["error"]["code"] == "INVALID_OTP"


def _wrong(code: str) -> str:
    return f"{(int(code) + 1) % 10**6:06d}"


def test_five_wrong_codes_lock_the_challenge(api_client, whatsapp_outbox):
    api_client.post("/api/login", {"phone": PHONE}, format="json")
    code = whatsapp_outbox(PHONE)[-1]["code"]
    for _ in range(5):
        resp = api_client.post("/api/verify-otp", {"phone": PHONE, "otp": _wrong(code)}, format="json")
        assert resp.status_code == 400
        assert resp.json() == {"success": False, "error": {"code": "INVALID_OTP",
                                                           "message": "The code is wrong or has expired."}}
    locked = api_client.post("/api/verify-otp", {"phone": PHONE, "otp": code}, format="json")
    assert locked.status_code == 429
    assert locked.json()["error"]["code"] == "TOO_MANY_ATTEMPTS"
    assert "Retry-After" in locked


def test_failures_per_phone_are_capped_across_addresses(api_client, whatsapp_outbox, settings):
    """Rotating source addresses does not buy more guesses: the cap is per phone."""
    settings.OTP_RESEND_INTERVAL = timedelta(0)
    settings.OTP_MAX_FAILURES_PER_HOUR = 8
    for round_ in range(2):
        api_client.post("/api/login", {"phone": PHONE}, format="json", REMOTE_ADDR=f"10.0.{round_}.1")
        code = whatsapp_outbox(PHONE)[-1]["code"]
        for attempt in range(4):
            api_client.post("/api/verify-otp", {"phone": PHONE, "otp": _wrong(code)}, format="json",
                            REMOTE_ADDR=f"10.1.{round_}.{attempt}")
    api_client.post("/api/login", {"phone": PHONE}, format="json", REMOTE_ADDR="10.2.0.1")
    code = whatsapp_outbox(PHONE)[-1]["code"]
    resp = api_client.post("/api/verify-otp", {"phone": PHONE, "otp": code}, format="json", REMOTE_ADDR="10.3.0.1")
    assert resp.status_code == 429
    assert resp.json()["error"]["code"] == "TOO_MANY_ATTEMPTS"


def test_resend_waits_thirty_seconds(api_client, whatsapp_outbox):
    assert api_client.post("/api/login", {"phone": PHONE}, format="json").status_code == 200
    resp = api_client.post("/api/resend-otp", {"phone": PHONE}, format="json")
    assert resp.status_code == 429
    assert 1 <= int(resp["Retry-After"]) <= 31
    assert resp.json()["error"]["code"] == "TOO_MANY_ATTEMPTS"
    assert len(whatsapp_outbox(PHONE)) == 1


def test_resend_replaces_the_code_and_is_capped_per_hour(api_client, whatsapp_outbox, settings):
    settings.OTP_RESEND_INTERVAL = timedelta(0)
    assert api_client.post("/api/login", {"phone": PHONE}, format="json").status_code == 200
    first_code = whatsapp_outbox(PHONE)[-1]["code"]
    for _ in range(5):
        resp = api_client.post("/api/resend-otp", {"phone": PHONE}, format="json")
        assert resp.status_code == 200
        assert resp.json()["message"] == "OTP resent via WhatsApp"
    assert api_client.post("/api/resend-otp", {"phone": PHONE}, format="json").status_code == 429
    assert len(whatsapp_outbox(PHONE)) == 6
    latest = whatsapp_outbox(PHONE)[-1]["code"]
    if first_code != latest:
        old = api_client.post("/api/verify-otp", {"phone": PHONE, "otp": first_code}, format="json")
        assert old.status_code == 400
    assert api_client.post("/api/verify-otp", {"phone": PHONE, "otp": latest}, format="json").status_code == 200


def test_inactive_account_gets_user_inactive(api_client, whatsapp_outbox, make_user):
    make_user(phone=PHONE, is_active=False)
    api_client.post("/api/login", {"phone": PHONE}, format="json")
    code = whatsapp_outbox(PHONE)[-1]["code"]
    resp = api_client.post("/api/verify-otp", {"phone": PHONE, "otp": code}, format="json")
    assert resp.status_code == 404
    assert resp.json()["error"]["code"] == "USER_INACTIVE"


@pytest.mark.parametrize("phone", ["12345", "not a phone", "+1", "+91 00000 00000", "9" * 40])
def test_malformed_phone_is_400(api_client, phone):
    resp = api_client.post("/api/login", {"phone": phone}, format="json")
    assert resp.status_code == 400
    assert resp.json()["error"]["code"] in {"INVALID_PHONE", "VALIDATION_ERROR"}


@pytest.mark.parametrize("path,body", [
    ("/api/login", {}),
    ("/api/verify-otp", {"phone": PHONE}),
    ("/api/verify-otp", {"phone": PHONE, "otp": "12ab56"}),
    ("/api/verify-otp", {"phone": PHONE, "otp": "1234567"}),
    ("/api/resend-otp", {"phone": ""}),
])
def test_missing_or_bad_fields_are_400(api_client, path, body):
    resp = api_client.post(path, body, format="json")
    assert resp.status_code == 400
    assert resp.json()["success"] is False
    assert resp.json()["error"]["code"] == "VALIDATION_ERROR"


def test_broken_json_is_400(api_client):
    resp = api_client.post("/api/login", data='{"phone": ', content_type="application/json")
    assert resp.status_code == 400
    assert resp.json()["error"]["code"] == "MALFORMED_REQUEST"


def test_sign_in_is_throttled_per_address(api_client):
    codes = [api_client.post("/api/login", {"phone": f"+9198000000{n:02d}"}, format="json").status_code
             for n in range(11)]
    assert codes[:10] == [200] * 10
    assert codes[10] == 429
    resp = api_client.post("/api/login", {"phone": "+919800000099"}, format="json")
    assert resp.json()["error"]["code"] == "RATE_LIMITED"
    assert int(resp["Retry-After"]) >= 1
    # Another address is not affected, and a forged X-Forwarded-For changes nothing.
    assert api_client.post("/api/login", {"phone": "+919800000098"}, format="json",
                           REMOTE_ADDR="10.9.9.9").status_code == 200
    assert api_client.post("/api/login", {"phone": "+919800000097"}, format="json",
                           HTTP_X_FORWARDED_FOR="1.2.3.4").status_code == 429


def test_verify_is_throttled_per_address(api_client):
    statuses = {api_client.post("/api/verify-otp", {"phone": f"+9198000001{n:02d}", "otp": "123456"},
                                format="json").status_code for n in range(21)}
    assert statuses == {400, 429}
