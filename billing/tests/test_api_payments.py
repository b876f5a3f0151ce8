"""Free → Pro through Razorpay: create-order, verify-payment, and every bad case refused."""

import pytest
import requests
import responses
from django.conf import settings

from accounts.models import User
from billing.models import Payment, Subscription

from .helpers import (
    AUTH_FAILED,
    KEY_ID,
    ORDER_ID,
    ORDERS_URL,
    SERVER_ERROR,
    order_body,
    order_for,
    payment_signature,
    status,
    verify,
)

pytestmark = pytest.mark.django_db

GiB = 1024**3
PRO_QUOTA = 100 * GiB


def _quota(client) -> int:
    return client.get("/api/user/storage-stats").json()["data"]["quota"]


def test_free_to_pro_through_create_order_and_verify(razorpay, auth_client, user):
    assert _quota(auth_client) == settings.DEFAULT_STORAGE_QUOTA
    before = status(auth_client)
    assert before["plan"]["code"] == "free" and before["status"] is None and before["deviceLimit"] == 3

    # The client sends an amount of its own: ignored, the plan's price is what Razorpay is asked for.
    order = order_for(auth_client, "pro", amount=100)
    assert ORDER_ID.match(order["order_id"])
    assert order["amount"] == 29_900 and order["currency"] == "INR" and order["key_id"] == KEY_ID
    assert order["gateway"] == "razorpay" and order["plan"]["code"] == "pro"
    sent = order_body(razorpay.calls[-1])
    assert sent["amount"] == 29_900 and sent["currency"] == "INR" and sent["receipt"] == order["receipt"]
    assert sent["notes"] == {"user": str(user.uuid), "plan": "pro"}
    assert razorpay.calls[-1].request.headers["Authorization"].startswith("Basic ")

    resp = verify(auth_client, order["order_id"], "pay_29QQoUBi66xm2f")
    assert resp.status_code == 200, resp.content
    data = resp.json()["data"]
    assert data["activated"] is True
    assert data["payment"]["status"] == "paid" and data["payment"]["paymentId"] == "pay_29QQoUBi66xm2f"
    assert data["subscription"]["plan"] == "pro" and data["subscription"]["status"] == "active"

    assert _quota(auth_client) == PRO_QUOTA
    now = status(auth_client)
    assert now["plan"]["code"] == "pro" and now["status"] == "active"
    assert now["quota"] == PRO_QUOTA and now["deviceLimit"] == 10 and now["used"] == 0
    assert now["currentPeriodEnd"] > now["currentPeriodStart"]
    history = auth_client.get("/api/payments/history").json()["data"]
    assert history["pagination"]["total"] == 1
    item = history["items"][0]
    assert (item["orderId"], item["status"], item["amount"], item["plan"]["code"]) == (
        order["order_id"], "paid", 29_900, "pro")


def test_verifying_twice_activates_once(razorpay, auth_client, user):
    order = order_for(auth_client)
    assert verify(auth_client, order["order_id"], "pay_A").json()["data"]["activated"] is True
    end = Subscription.objects.get(user=user).current_period_end
    again = verify(auth_client, order["order_id"], "pay_A")
    assert again.status_code == 200 and again.json()["data"]["activated"] is False
    assert Subscription.objects.get(user=user).current_period_end == end


def test_renewal_extends_the_period(razorpay, auth_client, user):
    first = order_for(auth_client)
    verify(auth_client, first["order_id"], "pay_1")
    end = Subscription.objects.get(user=user).current_period_end
    second = order_for(auth_client)
    assert verify(auth_client, second["order_id"], "pay_2").json()["data"]["activated"] is True
    assert Subscription.objects.get(user=user).current_period_end > end
    assert auth_client.get("/api/payments/history").json()["data"]["pagination"]["total"] == 2


def test_upgrade_to_enterprise_has_no_device_limit(razorpay, auth_client):
    order = order_for(auth_client, "enterprise")
    assert order["amount"] == 149_900
    verify(auth_client, order["order_id"], "pay_E")
    now = status(auth_client)
    assert now["plan"]["code"] == "enterprise" and now["deviceLimit"] is None and now["quota"] == 1024 * GiB


def test_admin_override_wins_over_the_plan(razorpay, auth_client, user):
    from accounts.services import user_quota_override_set

    user_quota_override_set(user=user, storage_quota=7 * GiB)
    verify(auth_client, order_for(auth_client)["order_id"], "pay_O")
    now = status(auth_client)
    assert now["plan"]["code"] == "pro" and now["quota"] == 7 * GiB and now["planQuota"] == PRO_QUOTA


def _nothing_activated(user):
    fresh = User.objects.get(pk=user.pk)
    assert fresh.plan == "free" and fresh.storage_quota == settings.DEFAULT_STORAGE_QUOTA
    assert not Subscription.objects.filter(user=user).exists()


@pytest.mark.parametrize("signature", [
    "0" * 64,
    payment_signature("order_other", "pay_X"),  # a real signature of another order
    None,  # signed with the wrong secret, below
])
def test_forged_signature_is_refused(razorpay, auth_client, user, signature):
    order = order_for(auth_client)
    if signature is None:
        signature = payment_signature(order["order_id"], "pay_X", secret="not-the-key-secret")
    resp = verify(auth_client, order["order_id"], "pay_X", signature=signature)
    assert resp.status_code == 400
    assert resp.json()["error"]["code"] == "PAYMENT_VERIFICATION_FAILED"
    _nothing_activated(user)
    assert Payment.objects.get(order_id=order["order_id"]).status == "created"


def test_another_users_order_is_refused(razorpay, auth_client, other_client, user, other_user):
    order = order_for(auth_client)
    resp = verify(other_client, order["order_id"], "pay_Y")  # valid signature, wrong owner
    assert resp.status_code == 404 and resp.json()["error"]["code"] == "ORDER_NOT_FOUND"
    _nothing_activated(user)
    _nothing_activated(other_user)


def test_second_user_sees_nothing_of_the_first(razorpay, auth_client, other_client):
    verify(auth_client, order_for(auth_client)["order_id"], "pay_Z")
    assert other_client.get("/api/payments/history").json()["data"]["items"] == []
    theirs = status(other_client)
    assert theirs["plan"]["code"] == "free" and theirs["status"] is None and theirs["subscription"] is None
    assert status(auth_client)["plan"]["code"] == "pro"


@pytest.mark.parametrize("body, code, http", [
    ({"plan": "platinum"}, "PLAN_NOT_FOUND", 404),
    ({"planId": "00000000-0000-0000-0000-000000000000"}, "PLAN_NOT_FOUND", 404),
    ({"plan": "free"}, "INVALID_PAYMENT_REQUEST", 400),
    ({}, "INVALID_PAYMENT_REQUEST", 400),
])
def test_bad_orders_are_refused(razorpay, auth_client, body, code, http):
    resp = auth_client.post("/api/create-order", body, format="json")
    assert resp.status_code == http and resp.json()["error"]["code"] == code
    assert not razorpay.calls and not Payment.objects.exists()


def test_inactive_plan_is_not_sold(razorpay, auth_client):
    from billing.models import Plan

    Plan.objects.filter(code="pro").update(is_active=False)
    resp = auth_client.post("/api/create-order", {"plan": "pro"}, format="json")
    assert resp.status_code == 404 and resp.json()["error"]["code"] == "PLAN_NOT_FOUND"


def test_plan_by_id(razorpay, auth_client):
    plans = auth_client.get("/api/storage-plans").json()["data"]["plans"]
    pro = next(p for p in plans if p["code"] == "pro")
    assert order_for(auth_client, pro["id"])["plan"]["code"] == "pro"


@pytest.mark.parametrize("answer", [
    dict(status=500, json=SERVER_ERROR),
    dict(status=502, body="<html>Bad gateway</html>", content_type="text/html"),
    dict(body=requests.ConnectionError("connection refused")),
    dict(body=requests.Timeout("read timed out")),
    dict(status=401, json=AUTH_FAILED),  # wrong keys: our fault, not the client's
])
def test_razorpay_down_is_503(razorpay, auth_client, user, answer):
    razorpay.replace(responses.POST, ORDERS_URL, **answer)
    resp = auth_client.post("/api/create-order", {"plan": "pro"}, format="json")
    assert resp.status_code == 503
    assert resp.json()["error"]["code"] == "PAYMENT_SERVICE_UNAVAILABLE"
    assert not Payment.objects.exists()
    _nothing_activated(user)


def test_razorpay_order_with_another_amount_is_refused(razorpay, auth_client):
    razorpay.replace(responses.POST, ORDERS_URL, json={"id": "order_W", "entity": "order", "amount": 100,
                                                       "currency": "INR", "status": "created"})
    resp = auth_client.post("/api/create-order", {"plan": "pro"}, format="json")
    assert resp.status_code == 503 and not Payment.objects.exists()


@pytest.mark.parametrize("body", [
    {},
    {"razorpay_order_id": "order_1", "razorpay_payment_id": "pay_1"},
    {"razorpay_order_id": "x" * 65, "razorpay_payment_id": "pay_1", "razorpay_signature": "a"},
])
def test_incomplete_verify_is_invalid(razorpay, auth_client, body):
    resp = auth_client.post("/api/verify-payment", body, format="json")
    assert resp.status_code == 400 and resp.json()["error"]["code"] == "INVALID_PAYMENT_REQUEST"


def test_unknown_order_is_404(razorpay, auth_client, user):
    resp = verify(auth_client, "order_DoesNotExist", "pay_1")
    assert resp.status_code == 404
    _nothing_activated(user)


@pytest.mark.parametrize("method, path", [
    ("post", "/api/create-order"), ("post", "/api/verify-payment"), ("get", "/api/payments/history"),
    ("get", "/api/subscription/status"),
])
def test_payment_endpoints_need_a_token(api_client, method, path):
    resp = getattr(api_client, method)(path)
    assert resp.status_code == 401 and resp.json()["error"]["code"] == "NO_TOKEN"


def test_history_is_paginated(razorpay, auth_client):
    for _ in range(3):
        order_for(auth_client)
    page = auth_client.get("/api/payments/history?pageSize=2").json()["data"]
    assert len(page["items"]) == 2 and page["pagination"]["total"] == 3 and page["pagination"]["hasNext"]
    assert all(i["status"] == "created" for i in page["items"])


def test_a_payment_id_of_another_order_is_refused(razorpay, auth_client, user):
    first, second = order_for(auth_client), order_for(auth_client)
    verify(auth_client, first["order_id"], "pay_Dup")
    end = Subscription.objects.get(user=user).current_period_end
    resp = verify(auth_client, second["order_id"], "pay_Dup")
    assert resp.status_code == 400 and resp.json()["error"]["code"] == "INVALID_PAYMENT_REQUEST"
    assert Subscription.objects.get(user=user).current_period_end == end
    assert Payment.objects.get(order_id=second["order_id"]).status == "created"
