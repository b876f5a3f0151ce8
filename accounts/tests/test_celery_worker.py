"""Sign-in through a real Celery worker process: the code is sent by the worker."""

import time

import pytest

from .helpers import PHONE, bearer


@pytest.mark.celery_worker
def test_otp_delivered_by_a_real_worker(celery_worker, api_client, whatsapp_outbox):
    assert api_client.post("/api/login", {"phone": PHONE}, format="json").status_code == 200
    deadline = time.monotonic() + 30
    while not whatsapp_outbox(PHONE):
        assert time.monotonic() < deadline, "the worker never sent the code"
        time.sleep(0.2)
    code = whatsapp_outbox(PHONE)[-1]["code"]
    resp = api_client.post("/api/verify-otp", {"phone": PHONE, "otp": code}, format="json")
    assert resp.status_code == 200
    assert api_client.get("/api/session/check", **bearer(resp.json()["data"]["token"])).status_code == 200
