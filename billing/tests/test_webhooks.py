"""The Razorpay webhook: signed on the raw body, each event acted on once, in any order."""

import json

import pytest
from django.conf import settings

from accounts.models import User
from billing.models import Payment, Subscription, WebhookEvent

from .helpers import (
    WEBHOOK_SECRET,
    captured,
    failed,
    order_for,
    order_paid,
    post_webhook,
    refunded,
    sign,
    status,
    verify,
)

pytestmark = pytest.mark.django_db

PRO = 29_900


def _plan(user) -> str:
    return User.objects.get(pk=user.pk).plan


def _recorded(resp) -> dict:
    assert resp.status_code == 200, resp.content
    return resp.json()["data"]


def test_free_to_pro_through_the_webhook_alone(razorpay, auth_client, api_client, user):
    order = order_for(auth_client)
    data = _recorded(post_webhook(api_client, captured(order["order_id"], "pay_W1", PRO), event_id="evt_1"))
    assert data == {"eventId": "evt_1", "duplicate": False}
    assert WebhookEvent.objects.get(event_id="evt_1").status == "processed"
    now = status(auth_client)
    assert now["plan"]["code"] == "pro" and now["status"] == "active" and now["quota"] == 100 * 1024**3
    assert auth_client.get("/api/user/storage-stats").json()["data"]["quota"] == 100 * 1024**3
    item = auth_client.get("/api/payments/history").json()["data"]["items"][0]
    assert item["status"] == "paid" and item["paymentId"] == "pay_W1"


def test_replayed_webhook_is_recorded_and_acted_on_once(razorpay, auth_client, api_client, user):
    order = order_for(auth_client)
    payload = captured(order["order_id"], "pay_R", PRO)
    _recorded(post_webhook(api_client, payload, event_id="evt_same"))
    end = Subscription.objects.get(user=user).current_period_end
    again = _recorded(post_webhook(api_client, payload, event_id="evt_same"))
    assert again["duplicate"] is True
    assert WebhookEvent.objects.filter(event_id="evt_same").count() == 1
    # The same payment under a new event id, and order.paid for it: still one activation.
    _recorded(post_webhook(api_client, payload))
    _recorded(post_webhook(api_client, order_paid(order["order_id"], "pay_R", PRO)))
    assert Subscription.objects.get(user=user).current_period_end == end
    assert Payment.objects.get(order_id=order["order_id"]).activated_at is not None


def test_event_without_an_id_header_is_keyed_by_its_body(razorpay, auth_client, api_client):
    order = order_for(auth_client)
    payload = captured(order["order_id"], "pay_N", PRO)
    assert _recorded(post_webhook(api_client, payload, event_id=""))["duplicate"] is False
    assert _recorded(post_webhook(api_client, payload, event_id=""))["duplicate"] is True


def test_verify_and_webhook_give_one_activation(razorpay, auth_client, api_client, user):
    order = order_for(auth_client)
    _recorded(post_webhook(api_client, captured(order["order_id"], "pay_V", PRO)))
    end = Subscription.objects.get(user=user).current_period_end
    assert verify(auth_client, order["order_id"], "pay_V").json()["data"]["activated"] is False
    assert Subscription.objects.get(user=user).current_period_end == end


@pytest.mark.parametrize("signature", ["", "deadbeef" * 8, None])
def test_bad_webhook_signature_is_refused(razorpay, auth_client, api_client, user, signature):
    order = order_for(auth_client)
    payload = captured(order["order_id"], "pay_B", PRO)
    if signature is None:  # the right format, the wrong secret
        signature = sign("whsec_guess", json.dumps(payload).encode())
    resp = post_webhook(api_client, payload, signature=signature)
    assert resp.status_code == 400 and resp.json()["error"]["code"] == "PAYMENT_VERIFICATION_FAILED"
    assert not WebhookEvent.objects.exists() and _plan(user) == "free"


def test_signature_covers_the_raw_body(razorpay, auth_client, api_client, user):
    order = order_for(auth_client)
    body = json.dumps(captured(order["order_id"], "pay_S", PRO)).encode()
    signature = sign(WEBHOOK_SECRET, body)
    # Same JSON, other bytes: the signature no longer matches.
    tampered = json.dumps(json.loads(body), indent=2).encode()
    assert post_webhook(api_client, tampered, signature=signature).status_code == 400
    assert _plan(user) == "free"
    assert post_webhook(api_client, body, signature=signature).status_code == 200
    assert _plan(user) == "pro"


def test_amount_that_does_not_match_is_refused(razorpay, auth_client, api_client, user):
    order = order_for(auth_client)
    _recorded(post_webhook(api_client, captured(order["order_id"], "pay_M", 100), event_id="evt_cheap"))
    event = WebhookEvent.objects.get(event_id="evt_cheap")
    assert event.status == "failed" and "does not match" in event.error
    _recorded(post_webhook(api_client, order_paid(order["order_id"], "pay_M", 29_899)))
    assert _plan(user) == "free" and not Subscription.objects.filter(user=user).exists()
    assert Payment.objects.get(order_id=order["order_id"]).status == "created"


def test_currency_must_match(razorpay, auth_client, api_client, user):
    order = order_for(auth_client)
    _recorded(post_webhook(api_client, captured(order["order_id"], "pay_C", PRO, currency="USD")))
    assert _plan(user) == "free"


def test_order_paid_then_captured_activates_once(razorpay, auth_client, api_client, user):
    order = order_for(auth_client)
    _recorded(post_webhook(api_client, order_paid(order["order_id"], "pay_OP", PRO)))
    assert _plan(user) == "pro"
    end = Subscription.objects.get(user=user).current_period_end
    _recorded(post_webhook(api_client, captured(order["order_id"], "pay_OP", PRO)))
    assert Subscription.objects.get(user=user).current_period_end == end


def test_failure_then_success(razorpay, auth_client, api_client, user):
    order = order_for(auth_client)
    _recorded(post_webhook(api_client, failed(order["order_id"], "pay_F1", PRO)))
    payment = Payment.objects.get(order_id=order["order_id"])
    assert payment.status == "failed" and "declined" in payment.error_description and _plan(user) == "free"
    _recorded(post_webhook(api_client, captured(order["order_id"], "pay_F2", PRO)))
    assert Payment.objects.get(order_id=order["order_id"]).status == "paid" and _plan(user) == "pro"


def test_late_failure_does_not_undo_a_success(razorpay, auth_client, api_client, user):
    order = order_for(auth_client)
    _recorded(post_webhook(api_client, captured(order["order_id"], "pay_OK", PRO)))
    _recorded(post_webhook(api_client, failed(order["order_id"], "pay_OLD", PRO)))
    assert Payment.objects.get(order_id=order["order_id"]).status == "paid" and _plan(user) == "pro"


def test_full_refund_returns_the_user_to_free(razorpay, auth_client, api_client, user):
    order = order_for(auth_client)
    verify(auth_client, order["order_id"], "pay_RF")
    _recorded(post_webhook(api_client, refunded(order["order_id"], "pay_RF", PRO)))
    now = status(auth_client)
    assert now["plan"]["code"] == "free" and now["status"] == "cancelled"
    assert now["quota"] == settings.DEFAULT_STORAGE_QUOTA
    item = auth_client.get("/api/payments/history").json()["data"]["items"][0]
    assert item["status"] == "refunded" and item["refundedAmount"] == PRO
    # Replayed under another id, or the capture arriving late: nothing comes back.
    _recorded(post_webhook(api_client, refunded(order["order_id"], "pay_RF", PRO)))
    _recorded(post_webhook(api_client, captured(order["order_id"], "pay_RF", PRO)))
    assert status(auth_client)["plan"]["code"] == "free"
    resp = verify(auth_client, order["order_id"], "pay_RF")
    assert resp.status_code == 400 and resp.json()["error"]["code"] == "INVALID_PAYMENT_REQUEST"
    assert status(auth_client)["plan"]["code"] == "free"


def test_refund_before_capture_never_activates(razorpay, auth_client, api_client, user):
    order = order_for(auth_client)
    _recorded(post_webhook(api_client, refunded(order["order_id"], "pay_RB", PRO)))
    _recorded(post_webhook(api_client, captured(order["order_id"], "pay_RB", PRO)))
    assert _plan(user) == "free" and Payment.objects.get(order_id=order["order_id"]).status == "refunded"


def test_partial_refund_keeps_the_plan(razorpay, auth_client, api_client, user):
    order = order_for(auth_client)
    verify(auth_client, order["order_id"], "pay_PR")
    _recorded(post_webhook(api_client, refunded(order["order_id"], "pay_PR", PRO, refund_amount=5_000)))
    payment = Payment.objects.get(order_id=order["order_id"])
    assert payment.status == "paid" and payment.refunded_amount == 5_000 and _plan(user) == "pro"


def test_unknown_order_and_event_are_recorded_and_ignored(razorpay, api_client):
    _recorded(post_webhook(api_client, captured("order_NotOurs", "pay_U", PRO), event_id="evt_u"))
    _recorded(post_webhook(api_client, {"entity": "event", "event": "payment.authorized", "payload": {}},
                           event_id="evt_a"))
    assert set(WebhookEvent.objects.values_list("status", flat=True)) == {"ignored"}


@pytest.mark.parametrize("body", [b"not json", b"[1, 2]", b'{"payload": {}}', "{\"event\": \"x\"}\xff".encode("latin-1")])
def test_malformed_but_signed_body_is_400(razorpay, api_client, body):
    resp = post_webhook(api_client, body)
    assert resp.status_code in (400,)
    assert resp.json()["error"]["code"] in ("INVALID_PAYMENT_REQUEST", "PAYMENT_VERIFICATION_FAILED")
    assert not WebhookEvent.objects.exists()


def test_odd_payload_shape_is_recorded_as_failed(razorpay, auth_client, api_client, user):
    order = order_for(auth_client)
    payload = {"entity": "event", "event": "payment.captured", "payload": {"payment": {"entity": {
        "id": "pay_odd", "order_id": order["order_id"], "amount": "lots", "currency": "INR"}}}}
    _recorded(post_webhook(api_client, payload, event_id="evt_odd"))
    assert WebhookEvent.objects.get(event_id="evt_odd").status == "failed" and _plan(user) == "free"


def test_webhook_needs_no_token_and_ignores_one(razorpay, auth_client, user):
    order = order_for(auth_client)
    auth_client.credentials(HTTP_AUTHORIZATION="Bearer not-a-token")
    assert post_webhook(auth_client, captured(order["order_id"], "pay_T", PRO)).status_code == 200
    assert _plan(user) == "pro"


def test_webhooks_are_refused_without_a_secret(razorpay, settings, api_client):
    settings.RAZORPAY_WEBHOOK_SECRET = ""
    resp = post_webhook(api_client, captured("order_x", "pay_x", PRO))
    assert resp.status_code == 503 and resp.json()["error"]["code"] == "PAYMENT_SERVICE_UNAVAILABLE"


def test_a_crashed_processing_is_retried(razorpay, auth_client, api_client, user, monkeypatch):
    from datetime import timedelta

    from billing import services, tasks

    order = order_for(auth_client)
    monkeypatch.setattr(tasks.webhook_event_process_task, "delay", lambda pk: None)  # the enqueue was lost
    _recorded(post_webhook(api_client, captured(order["order_id"], "pay_L", PRO), event_id="evt_lost"))
    assert WebhookEvent.objects.get(event_id="evt_lost").status == "received" and _plan(user) == "free"
    monkeypatch.undo()
    WebhookEvent.objects.update(received_at=WebhookEvent.objects.get().received_at - timedelta(minutes=10))
    assert services.webhook_events_retry() == 1
    assert WebhookEvent.objects.get(event_id="evt_lost").status == "processed" and _plan(user) == "pro"


def test_refund_of_another_attempt_keeps_the_plan(razorpay, auth_client, api_client, user):
    order = order_for(auth_client)
    verify(auth_client, order["order_id"], "pay_kept")
    _recorded(post_webhook(api_client, refunded(order["order_id"], "pay_other_attempt", PRO), event_id="evt_o"))
    assert WebhookEvent.objects.get(event_id="evt_o").status == "ignored"
    assert _plan(user) == "pro" and Payment.objects.get(order_id=order["order_id"]).status == "paid"
