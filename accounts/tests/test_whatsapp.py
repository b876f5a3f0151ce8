"""WhatsApp delivery: the AiSensy client against recorded responses, and the other backends."""

import json

import pytest
import requests
import responses

from accounts import whatsapp
from storage_site.core.exceptions import ServiceUnavailable

from .helpers import PHONE

AISENSY = "https://backend.aisensy.com/campaign/t1/api/v2"
# Recorded answers of AiSensy's campaign API.
ACCEPTED = {"success": "true", "submitted_message_id": "6f1c9a6e-5a0f-4a33-9d0b-0d2b9c1f2e11"}
BAD_KEY = {"errorMessage": "Invalid api key", "success": False}
NO_CAMPAIGN = {"message": "Campaign does not exist."}


@pytest.fixture
def aisensy(settings):
    settings.WHATSAPP_BACKEND = "aisensy"
    settings.AISENSY_API_KEY = "test-key"
    settings.AISENSY_CAMPAIGN_NAME = "stratus_otp"
    with responses.RequestsMock() as mock:
        yield mock


def test_aisensy_sends_the_template_with_the_code(aisensy):
    aisensy.post(AISENSY, json=ACCEPTED, status=200)
    whatsapp.get_backend().send_otp(phone=PHONE, code="123456")
    sent = json.loads(aisensy.calls[0].request.body)
    assert sent["apiKey"] == "test-key"
    assert sent["campaignName"] == "stratus_otp"
    assert sent["destination"] == "919812345678"
    assert sent["templateParams"] == ["123456"]
    assert sent["buttons"][0]["parameters"][0]["text"] == "123456"


@pytest.mark.parametrize("status", [500, 502, 503, 429])
def test_aisensy_server_errors_are_retryable(aisensy, status):
    aisensy.post(AISENSY, json={"message": "Internal Server Error"}, status=status)
    with pytest.raises(ServiceUnavailable):
        whatsapp.get_backend().send_otp(phone=PHONE, code="123456")


def test_aisensy_unreachable_is_retryable(aisensy):
    aisensy.post(AISENSY, body=requests.ConnectionError("connection refused"))
    with pytest.raises(ServiceUnavailable):
        whatsapp.get_backend().send_otp(phone=PHONE, code="123456")


@pytest.mark.parametrize("status,body", [(401, BAD_KEY), (400, NO_CAMPAIGN)])
def test_aisensy_refusals_are_not_retried(aisensy, status, body):
    aisensy.post(AISENSY, json=body, status=status)
    with pytest.raises(whatsapp.WhatsAppRejected):
        whatsapp.get_backend().send_otp(phone=PHONE, code="123456")


@pytest.mark.django_db
def test_sign_in_through_aisensy(aisensy, api_client):
    aisensy.post(AISENSY, json=ACCEPTED, status=200)
    assert api_client.post("/api/login", {"phone": PHONE}, format="json").status_code == 200
    code = json.loads(aisensy.calls[0].request.body)["templateParams"][0]
    resp = api_client.post("/api/verify-otp", {"phone": PHONE, "otp": code}, format="json")
    assert resp.status_code == 200


@pytest.mark.django_db
def test_gateway_failure_does_not_change_the_login_answer(aisensy, api_client):
    aisensy.post(AISENSY, json={"message": "down"}, status=503)
    resp = api_client.post("/api/login", {"phone": PHONE}, format="json")
    assert resp.status_code == 200
    assert resp.json()["message"] == "OTP sent via WhatsApp"


def test_console_backend_prints(settings, capsys):
    settings.WHATSAPP_BACKEND = "console"
    whatsapp.get_backend().send_otp(phone=PHONE, code="654321")
    assert "654321" in capsys.readouterr().out


def test_unknown_backend_is_a_clear_error(settings):
    settings.WHATSAPP_BACKEND = "carrier-pigeon"
    with pytest.raises(ValueError, match="carrier-pigeon"):
        whatsapp.get_backend()
