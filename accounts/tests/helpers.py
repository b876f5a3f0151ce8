import base64
import json
from datetime import timedelta

import jwt
from django.conf import settings
from django.utils import timezone

PHONE = "+919812345678"


def otp_sign_in(api_client, whatsapp_outbox, phone: str = PHONE, **extra) -> dict:
    """Sign in through the public API as a phone user would; returns the `data` of verify-otp."""
    assert api_client.post("/api/login", {"phone": phone}, format="json", **extra).status_code == 200
    code = whatsapp_outbox(phone)[-1]["code"]
    resp = api_client.post("/api/verify-otp", {"phone": phone, "otp": code}, format="json", **extra)
    assert resp.status_code == 200, resp.content
    return resp.json()["data"]


def forge(claims: dict, *, key: str | None = None, alg: str = "HS256") -> str:
    base = {"token_type": "access", "exp": int((timezone.now() + timedelta(hours=1)).timestamp()),
            "iat": int(timezone.now().timestamp()), "jti": "x" * 32}
    base.update(claims)
    if alg == "none":
        header = base64.urlsafe_b64encode(json.dumps({"alg": "none", "typ": "JWT"}).encode()).rstrip(b"=")
        body = base64.urlsafe_b64encode(json.dumps(base).encode()).rstrip(b"=")
        return f"{header.decode()}.{body.decode()}."
    return jwt.encode(base, key or settings.SIMPLE_JWT["SIGNING_KEY"], algorithm=alg)


def claims_of(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


def bearer(token: str) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}
