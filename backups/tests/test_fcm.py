"""The FCM HTTP v1 client against recorded answers (`responses`): the OAuth 2.0
service-account grant, the message send, and each kind of error."""

import json
from urllib.parse import parse_qs

import jwt
import pytest
import responses
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from backups.models import Notification, PushRegistration
from backups.push import PushError, PushMessage, PushTemporaryError, PushTokenInvalid, fcm
from backups.services import notifications

from .helpers import phone

TOKEN_URI = "https://oauth2.googleapis.com/token"
SEND_URL = "https://fcm.googleapis.com/v1/projects/stratus-demo/messages:send"

_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
PRIVATE_PEM = _KEY.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption()).decode()
PUBLIC_PEM = _KEY.public_key().public_bytes(serialization.Encoding.PEM,
                                            serialization.PublicFormat.SubjectPublicKeyInfo)
CREDENTIALS = {"type": "service_account", "project_id": "stratus-demo", "private_key_id": "key-1",
               "private_key": PRIVATE_PEM, "client_email": "push@stratus-demo.iam.gserviceaccount.com",
               "token_uri": TOKEN_URI}
MESSAGE = PushMessage(token="device-token-1", platform="android", category="shares", title="New shared file",
                      body="Asha shared report.pdf with you.", data={"fileId": "f-1", "n": 3},
                      collapse_key="share-1", notification_id="n-1", user_id="u-1", device_id="d-1")
UNREGISTERED = {"error": {"code": 404, "message": "Requested entity was not found.", "status": "NOT_FOUND",
                          "details": [{"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError",
                                       "errorCode": "UNREGISTERED"}]}}


@pytest.fixture(autouse=True)
def _fresh_token_cache():
    fcm._tokens.clear()
    yield
    fcm._tokens.clear()


def backend():
    return fcm.FcmBackend(project_id="stratus-demo", credentials=CREDENTIALS)


def oauth_ok(rsps, token="ya29.first"):
    rsps.add(responses.POST, TOKEN_URI, json={"access_token": token, "expires_in": 3599, "token_type": "Bearer"})


@responses.activate
def test_grant_and_send():
    oauth_ok(responses)
    responses.add(responses.POST, SEND_URL, json={"name": "projects/stratus-demo/messages/0:1500415314455276"})
    assert backend().send(MESSAGE) == "projects/stratus-demo/messages/0:1500415314455276"

    grant = parse_qs(responses.calls[0].request.body)
    assert grant["grant_type"] == ["urn:ietf:params:oauth:grant-type:jwt-bearer"]
    assertion = grant["assertion"][0]
    assert jwt.get_unverified_header(assertion)["kid"] == "key-1"
    claims = jwt.decode(assertion, PUBLIC_PEM, algorithms=["RS256"], audience=TOKEN_URI)
    assert claims["iss"] == CREDENTIALS["client_email"]
    assert claims["scope"] == "https://www.googleapis.com/auth/firebase.messaging"
    assert claims["exp"] - claims["iat"] == 3600

    send = responses.calls[1].request
    assert send.headers["Authorization"] == "Bearer ya29.first"
    body = json.loads(send.body)["message"]
    assert body["token"] == "device-token-1"
    assert body["notification"] == {"title": "New shared file", "body": "Asha shared report.pdf with you."}
    assert body["data"] == {"fileId": "f-1", "n": "3", "category": "shares", "notificationId": "n-1"}
    assert body["android"] == {"priority": "normal", "collapse_key": "share-1"}
    assert body["apns"] == {"headers": {"apns-collapse-id": "share-1"}}


@responses.activate
def test_access_token_is_reused_until_it_expires():
    oauth_ok(responses)
    responses.add(responses.POST, SEND_URL, json={"name": "a"})
    responses.add(responses.POST, SEND_URL, json={"name": "b"})
    client = backend()
    client.send(MESSAGE)
    client.send(MESSAGE)
    assert [call.request.url for call in responses.calls].count(TOKEN_URI) == 1


@responses.activate
def test_a_refused_access_token_is_renewed_once():
    oauth_ok(responses, "ya29.old")
    oauth_ok(responses, "ya29.new")
    responses.add(responses.POST, SEND_URL, status=401, json={"error": {"code": 401, "status": "UNAUTHENTICATED",
                                                                       "message": "Request had invalid credentials."}})
    responses.add(responses.POST, SEND_URL, json={"name": "ok"})
    assert backend().send(MESSAGE) == "ok"
    assert responses.calls[3].request.headers["Authorization"] == "Bearer ya29.new"


@responses.activate
def test_unregistered_token_is_invalid():
    oauth_ok(responses)
    responses.add(responses.POST, SEND_URL, status=404, json=UNREGISTERED)
    with pytest.raises(PushTokenInvalid):
        backend().send(MESSAGE)


@responses.activate
def test_invalid_token_argument_is_invalid_but_a_bad_payload_is_not():
    oauth_ok(responses)
    responses.add(responses.POST, SEND_URL, status=400, json={"error": {
        "code": 400, "status": "INVALID_ARGUMENT", "message": "The registration token is not a valid FCM registration token",
        "details": [{"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": "INVALID_ARGUMENT"}]}})
    responses.add(responses.POST, SEND_URL, status=400, json={"error": {
        "code": 400, "status": "INVALID_ARGUMENT", "message": "Invalid JSON payload received. Unknown name \"x\""}})
    client = backend()
    with pytest.raises(PushTokenInvalid):
        client.send(MESSAGE)
    with pytest.raises(PushError) as caught:
        client.send(MESSAGE)
    assert not isinstance(caught.value, PushTokenInvalid)


@responses.activate
def test_sender_mismatch_is_invalid():
    oauth_ok(responses)
    responses.add(responses.POST, SEND_URL, status=403, json={"error": {
        "code": 403, "status": "PERMISSION_DENIED", "message": "SenderId mismatch",
        "details": [{"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError",
                     "errorCode": "SENDER_ID_MISMATCH"}]}})
    with pytest.raises(PushTokenInvalid):
        backend().send(MESSAGE)


@responses.activate
@pytest.mark.parametrize("status", [429, 500, 503])
def test_overload_and_outage_are_temporary(status):
    oauth_ok(responses)
    responses.add(responses.POST, SEND_URL, status=status, headers={"Retry-After": "30"},
                  json={"error": {"code": status, "status": "UNAVAILABLE", "message": "The service is unavailable."}})
    with pytest.raises(PushTemporaryError) as caught:
        backend().send(MESSAGE)
    assert caught.value.retry_after == 30


@responses.activate
def test_network_failure_is_temporary():
    import requests

    oauth_ok(responses)
    responses.add(responses.POST, SEND_URL, body=requests.ConnectionError("connection reset"))
    with pytest.raises(PushTemporaryError):
        backend().send(MESSAGE)


@responses.activate
def test_refused_service_account_is_an_error():
    responses.add(responses.POST, TOKEN_URI, status=400, json={"error": "invalid_grant",
                                                               "error_description": "Invalid JWT Signature."})
    with pytest.raises(PushError, match="Invalid JWT Signature"):
        backend().send(MESSAGE)


def test_missing_settings_are_reported(settings):
    settings.FCM_CREDENTIALS_FILE = ""
    with pytest.raises(PushError, match="FCM_CREDENTIALS_FILE"):
        fcm.FcmBackend.from_settings()
    with pytest.raises(PushError, match="client_email"):
        fcm.FcmBackend(project_id="x", credentials={"private_key": PRIVATE_PEM})


# --- through the service, as the Celery task runs it ------------------------------------------

@pytest.fixture
def fcm_settings(settings, tmp_path):
    path = tmp_path / "service-account.json"
    path.write_text(json.dumps(CREDENTIALS))
    settings.PUSH_BACKEND = "fcm"
    settings.FCM_CREDENTIALS_FILE = str(path)
    settings.FCM_PROJECT_ID = "stratus-demo"


@pytest.mark.django_db
@responses.activate
def test_sent_notification_is_recorded(fcm_settings, user, django_capture_on_commit_callbacks):
    oauth_ok(responses)
    responses.add(responses.POST, SEND_URL, json={"name": "projects/stratus-demo/messages/1"})
    a = phone(user, pushToken="device-token-1")
    with django_capture_on_commit_callbacks(execute=True):
        notifications.notify(user=user, category="storage", title="Storage 91% full", body="…")
    assert Notification.objects.get().status == "sent"
    assert json.loads(responses.calls[-1].request.body)["message"]["token"] == "device-token-1"
    assert a.device


@pytest.mark.django_db
@responses.activate
def test_invalid_token_is_dropped(fcm_settings, user, django_capture_on_commit_callbacks):
    oauth_ok(responses)
    responses.add(responses.POST, SEND_URL, status=404, json=UNREGISTERED)
    phone(user, pushToken="stale-token")
    with django_capture_on_commit_callbacks(execute=True):
        notifications.notify(user=user, category="storage", title="Storage 91% full", body="…")
    notification = Notification.objects.get()
    assert notification.status == "failed" and "not found" in notification.error
    assert PushRegistration.objects.get().invalid_at is not None
    # Nothing more is sent to it until the app registers again.
    calls = len(responses.calls)
    with django_capture_on_commit_callbacks(execute=True):
        notifications.notify(user=user, category="storage", title="again", body="…")
    assert len(responses.calls) == calls and Notification.objects.count() == 1


@pytest.mark.django_db
@responses.activate
def test_temporary_failure_goes_back_to_the_queue(fcm_settings, user):
    oauth_ok(responses)
    responses.add(responses.POST, SEND_URL, status=503, json={"error": {"code": 503, "status": "UNAVAILABLE",
                                                                       "message": "try later"}})
    responses.add(responses.POST, SEND_URL, json={"name": "ok"})
    phone(user, pushToken="device-token-1")
    notification = Notification.objects.create(owner=user, device=PushRegistration.objects.get().device,
                                               category="storage", title="t", body="b")
    with pytest.raises(PushTemporaryError):
        notifications.push_send(notification_id=notification.pk)
    notification.refresh_from_db()
    assert notification.status == "queued" and notification.attempts == 1
    notifications.push_send(notification_id=notification.pk)  # the retry
    notification.refresh_from_db()
    assert notification.status == "sent" and notification.attempts == 2
    notifications.push_send(notification_id=notification.pk)  # a duplicate run does nothing
    assert len([c for c in responses.calls if c.request.url == SEND_URL]) == 2
