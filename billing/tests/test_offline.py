"""No Razorpay keys: the offline gateway makes the whole flow work on the embedded default."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.test import Client as BrowserClient

from accounts import services as accounts
from billing.models import Payment, Subscription

from .helpers import ORDER_ID, captured, order_for, post_webhook, status, verify

pytestmark = pytest.mark.django_db

SECRET = "offline-test-secret"


def test_offline_order_and_verify(offline, auth_client):
    order = order_for(auth_client, "pro")
    assert ORDER_ID.match(order["order_id"]) and order["gateway"] == "offline" and order["key_id"] == "offline"
    assert order["amount"] == 29_900
    # A signature made with anything but the local secret is refused.
    assert verify(auth_client, order["order_id"], "pay_off", secret="guess").status_code == 400
    assert status(auth_client)["plan"]["code"] == "free"
    resp = verify(auth_client, order["order_id"], "pay_off", secret=SECRET)
    assert resp.status_code == 200 and resp.json()["data"]["activated"] is True
    assert status(auth_client)["plan"]["code"] == "pro"


def test_mark_paid_command(offline, auth_client):
    order = order_for(auth_client)
    out = StringIO()
    call_command("billing_mark_paid", order["order_id"], stdout=out)
    assert "plan activated" in out.getvalue()
    assert status(auth_client)["plan"]["code"] == "pro"
    lines = dict(line.split("=", 1) for line in out.getvalue().splitlines() if "=" in line)
    # The printed signature is what the client's verify call needs; it activates nothing more.
    resp = verify(auth_client, order["order_id"], lines["razorpay_payment_id"],
                  signature=lines["razorpay_signature"])
    assert resp.status_code == 200 and resp.json()["data"]["activated"] is False
    again = StringIO()
    call_command("billing_mark_paid", order["order_id"], stdout=again)
    assert "nothing changed" in again.getvalue()
    assert auth_client.get("/api/payments/history").json()["data"]["items"][0]["status"] == "paid"


def test_mark_paid_unknown_order(offline):
    with pytest.raises(CommandError):
        call_command("billing_mark_paid", "order_nope", stdout=StringIO())


def test_razorpay_orders_cannot_be_marked_paid_by_hand(razorpay, auth_client):
    order = order_for(auth_client)
    with pytest.raises(CommandError):
        call_command("billing_mark_paid", order["order_id"], stdout=StringIO())
    assert status(auth_client)["plan"]["code"] == "free"


def test_offline_webhook_uses_the_local_secret(offline, auth_client, api_client):
    order = order_for(auth_client)
    assert post_webhook(api_client, captured(order["order_id"], "pay_w", 29_900)).status_code == 400
    assert post_webhook(api_client, captured(order["order_id"], "pay_w", 29_900), secret=SECRET).status_code == 200
    assert status(auth_client)["plan"]["code"] == "pro"


@pytest.fixture
def browser(db):
    admin, _, _ = accounts.admin_ensure(email="root@example.com", password="Adm1n-passw0rd!", phone=None)
    client = BrowserClient()
    client.force_login(admin)
    return client


def test_admin_pages_render(offline, browser, auth_client, api_client):
    order = order_for(auth_client)
    post_webhook(api_client, captured("order_x", "pay_x", 1), secret=SECRET)
    for page in ["/admin/billing/plan/", "/admin/billing/plan/?q=pro", "/admin/billing/plan/add/",
                 "/admin/billing/subscription/", "/admin/billing/payment/",
                 f"/admin/billing/payment/?q={order['order_id']}", "/admin/billing/payment/?status=created",
                 f"/admin/billing/payment/{Payment.objects.get().pk}/change/", "/admin/billing/webhookevent/",
                 "/admin/billing/webhookevent/?status=ignored"]:
        assert browser.get(page).status_code == 200, page


def test_admin_marks_paid_then_cancels(offline, browser, auth_client):
    order = order_for(auth_client)
    payment = Payment.objects.get(order_id=order["order_id"])
    browser.post("/admin/billing/payment/", {"action": "mark_paid", "_selected_action": [payment.pk]})
    assert status(auth_client)["plan"]["code"] == "pro"
    sub = Subscription.objects.get()
    browser.post("/admin/billing/subscription/", {"action": "cancel", "_selected_action": [sub.pk]})
    now = status(auth_client)
    assert now["plan"]["code"] == "free" and now["status"] == "cancelled"
    # Marking it paid again gives nothing back.
    browser.post("/admin/billing/payment/", {"action": "mark_paid", "_selected_action": [payment.pk]})
    assert status(auth_client)["plan"]["code"] == "free"
