"""Firebase Cloud Messaging, HTTP v1 API.

Auth is Google's OAuth 2.0 service-account flow: a JWT signed with the service
account's private key (RS256) is exchanged at its `token_uri` for an access token
(valid an hour, cached until shortly before it expires). Messages go to
`POST https://fcm.googleapis.com/v1/projects/<project>/messages:send`.

Errors (https://firebase.google.com/docs/reference/fcm/rest/v1/ErrorCode): an
UNREGISTERED token, a token of another sender, or an invalid token means the app
must register again — `PushTokenInvalid`; 429/500/503 and network failures are
`PushTemporaryError` (retried); anything else is `PushError`.
"""

import json
import threading
import time

import jwt
import requests
from django.conf import settings

from . import PushError, PushMessage, PushTemporaryError, PushTokenInvalid

FCM_URL = "https://fcm.googleapis.com/v1/projects/{project}/messages:send"
SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
DEFAULT_TOKEN_URI = "https://oauth2.googleapis.com/token"
TOKEN_MARGIN = 300  # renew this many seconds before the access token expires

_tokens: dict[str, tuple[str, float]] = {}  # client e-mail → (access token, expiry)
_lock = threading.Lock()


class FcmBackend:
    def __init__(self, *, project_id: str, credentials: dict, timeout: float = 10.0, session=None):
        if not project_id:
            raise PushError("FCM_PROJECT_ID is not set.")
        for key in ("client_email", "private_key"):
            if not credentials.get(key):
                raise PushError(f"The FCM service-account credentials lack `{key}`.")
        self.project_id = project_id
        self.credentials = credentials
        self.timeout = timeout
        self.http = session or requests.Session()

    @classmethod
    def from_settings(cls) -> "FcmBackend":
        path = settings.FCM_CREDENTIALS_FILE
        if not path:
            raise PushError("FCM_CREDENTIALS_FILE is not set.")
        try:
            with open(path, encoding="utf-8") as fh:
                credentials = json.load(fh)
        except (OSError, ValueError) as exc:
            raise PushError(f"Cannot read FCM credentials from {path}: {exc}") from exc
        return cls(project_id=settings.FCM_PROJECT_ID or credentials.get("project_id", ""),
                   credentials=credentials, timeout=settings.FCM_TIMEOUT)

    # --- OAuth 2.0 ---------------------------------------------------------------

    def _assertion(self) -> str:
        now = int(time.time())
        claims = {"iss": self.credentials["client_email"], "scope": SCOPE,
                  "aud": self.credentials.get("token_uri") or DEFAULT_TOKEN_URI, "iat": now, "exp": now + 3600}
        headers = {"kid": self.credentials["private_key_id"]} if self.credentials.get("private_key_id") else None
        return jwt.encode(claims, self.credentials["private_key"], algorithm="RS256", headers=headers)

    def access_token(self, *, renew: bool = False) -> str:
        email = self.credentials["client_email"]
        with _lock:
            cached = _tokens.get(email)
            if cached and not renew and cached[1] - TOKEN_MARGIN > time.time():
                return cached[0]
            try:
                resp = self.http.post(self.credentials.get("token_uri") or DEFAULT_TOKEN_URI, data={
                    "grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": self._assertion()},
                    timeout=self.timeout)
            except requests.RequestException as exc:
                raise PushTemporaryError(f"Google OAuth unreachable: {exc}") from exc
            if resp.status_code >= 500 or resp.status_code == 429:
                raise PushTemporaryError(f"Google OAuth answered {resp.status_code}.")
            body = _json(resp)
            if resp.status_code != 200 or "access_token" not in body:
                raise PushError(f"Google OAuth refused the service account ({resp.status_code}): "
                                f"{body.get('error_description') or body.get('error') or resp.text[:200]}")
            _tokens[email] = (body["access_token"], time.time() + int(body.get("expires_in", 3600)))
            return body["access_token"]

    # --- messages --------------------------------------------------------------------

    def payload(self, message: PushMessage) -> dict:
        data = {key: str(value) for key, value in message.data.items()}
        data.update(category=message.category, notificationId=message.notification_id)
        body = {"token": message.token, "notification": {"title": message.title, "body": message.body},
                "data": data,
                "android": {"priority": "high" if message.category == "security" else "normal"}}
        if message.collapse_key:
            body["android"]["collapse_key"] = message.collapse_key[:64]
            body["apns"] = {"headers": {"apns-collapse-id": message.collapse_key[:64]}}
        return {"message": body}

    def send(self, message: PushMessage) -> str:
        """Send one message; returns FCM's message name."""
        resp = self._post(message, self.access_token())
        if resp.status_code == 401:  # the access token was revoked or expired early
            resp = self._post(message, self.access_token(renew=True))
        if resp.status_code == 200:
            return _json(resp).get("name", "")
        raise _error(resp)

    def _post(self, message: PushMessage, token: str):
        try:
            return self.http.post(FCM_URL.format(project=self.project_id), json=self.payload(message),
                                  headers={"Authorization": f"Bearer {token}"}, timeout=self.timeout)
        except requests.RequestException as exc:
            raise PushTemporaryError(f"FCM unreachable: {exc}") from exc


def _json(resp) -> dict:
    try:
        body = resp.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _error(resp) -> PushError:
    error = _json(resp).get("error") or {}
    status = error.get("status", "")
    text = error.get("message", "") or resp.text[:200]
    codes = {detail.get("errorCode") for detail in error.get("details", []) if isinstance(detail, dict)}
    if codes & {"UNREGISTERED", "SENDER_ID_MISMATCH"} or (resp.status_code == 404 and status == "NOT_FOUND"):
        return PushTokenInvalid(f"FCM: {text}")
    if (codes & {"INVALID_ARGUMENT"} or status == "INVALID_ARGUMENT") and "token" in text.lower():
        return PushTokenInvalid(f"FCM: {text}")
    if resp.status_code in (429, 500, 502, 503, 504):
        retry_after = resp.headers.get("Retry-After", "")
        return PushTemporaryError(f"FCM answered {resp.status_code}: {text}",
                                  retry_after=int(retry_after) if retry_after.isdigit() else None)
    return PushError(f"FCM answered {resp.status_code}: {text}")
