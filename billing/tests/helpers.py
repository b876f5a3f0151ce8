"""Razorpay as the tests see it: recorded API answers and real HMAC-SHA256 signatures."""

import hashlib
import hmac
import itertools
import json
import re

import responses

KEY_ID = "rzp_test_1DP5mmOlF5G5ag"
KEY_SECRET = "thisisatestsecret0123456789"
WEBHOOK_SECRET = "whsec_test_0123456789abcdef"
ORDERS_URL = "https://api.razorpay.com/v1/orders"

_ids = itertools.count(1)


def sign(secret: str, message: str | bytes) -> str:
    data = message if isinstance(message, bytes) else message.encode()
    return hmac.new(secret.encode(), data, hashlib.sha256).hexdigest()


def payment_signature(order_id: str, payment_id: str, secret: str = KEY_SECRET) -> str:
    return sign(secret, f"{order_id}|{payment_id}")


def order_created(request):
    """Razorpay's answer to POST /v1/orders (recorded shape), echoing the request."""
    body = json.loads(request.body)
    order = {
        "id": f"order_Test{next(_ids):010d}", "entity": "order", "amount": body["amount"], "amount_paid": 0,
        "amount_due": body["amount"], "currency": body["currency"], "receipt": body["receipt"], "offer_id": None,
        "status": "created", "attempts": 0, "notes": body.get("notes", []), "created_at": 1700000000,
    }
    return 200, {"Content-Type": "application/json"}, json.dumps(order)


def mock_orders(rsps: responses.RequestsMock) -> None:
    rsps.add_callback(responses.POST, ORDERS_URL, callback=order_created, content_type="application/json")


SERVER_ERROR = {"error": {"code": "SERVER_ERROR", "description": "The server encountered an error. The incident has "
                          "been reported to admins.", "source": "NA", "step": "NA", "reason": "NA", "metadata": {}}}
AUTH_FAILED = {"error": {"code": "BAD_REQUEST_ERROR", "description": "Authentication failed", "source": "NA",
                         "step": "NA", "reason": "NA", "metadata": {}}}


def payment_entity(order_id: str, payment_id: str, amount: int, status: str = "captured", **extra) -> dict:
    return {"id": payment_id, "entity": "payment", "amount": amount, "currency": "INR", "status": status,
            "order_id": order_id, "invoice_id": None, "international": False, "method": "upi",
            "amount_refunded": 0, "refund_status": None, "captured": status == "captured", "description": None,
            "email": "gaurav.kumar@example.com", "contact": "+919876543210", "fee": 0, "tax": 0,
            "error_code": None, "error_description": None, "created_at": 1700000100, **extra}


def event(name: str, **entities) -> dict:
    return {"entity": "event", "account_id": "acc_BFQ7uQEaa7j2z7", "event": name, "contains": list(entities),
            "payload": {k: {"entity": v} for k, v in entities.items()}, "created_at": 1700000200}


def captured(order_id, payment_id, amount, **extra):
    return event("payment.captured", payment=payment_entity(order_id, payment_id, amount, **extra))


def order_paid(order_id, payment_id, amount):
    order = {"id": order_id, "entity": "order", "amount": amount, "amount_paid": amount, "amount_due": 0,
             "currency": "INR", "receipt": "r", "status": "paid", "attempts": 1, "notes": [], "created_at": 1700000000}
    return event("order.paid", payment=payment_entity(order_id, payment_id, amount), order=order)


def failed(order_id, payment_id, amount):
    return event("payment.failed", payment=payment_entity(
        order_id, payment_id, amount, status="failed", error_code="BAD_REQUEST_ERROR",
        error_description="Payment failed because the card was declined."))


def refunded(order_id, payment_id, amount, refund_amount=None):
    refund_amount = amount if refund_amount is None else refund_amount
    refund = {"id": f"rfnd_{next(_ids):014d}", "entity": "refund", "amount": refund_amount, "currency": "INR",
              "payment_id": payment_id, "status": "processed", "speed_processed": "normal", "created_at": 1700000300}
    return event("refund.processed", refund=refund, payment=payment_entity(
        order_id, payment_id, amount, status="refunded", amount_refunded=refund_amount))


def post_webhook(client, payload: dict | bytes, *, secret: str = WEBHOOK_SECRET, event_id: str | None = None,
                 signature: str | None = None):
    """Post a signed event; a fresh event id unless given ("" sends no id header)."""
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    headers = {"HTTP_X_RAZORPAY_SIGNATURE": signature if signature is not None else sign(secret, body)}
    if event_id != "":
        headers["HTTP_X_RAZORPAY_EVENT_ID"] = event_id or f"evt_{next(_ids):014d}"
    return client.generic("POST", "/api/razorpay/webhook", body, content_type="application/json", **headers)


def order_for(client, plan: str = "pro", **extra) -> dict:
    resp = client.post("/api/create-order", {"plan": plan, **extra}, format="json")
    assert resp.status_code == 201, resp.content
    return resp.json()["data"]


def verify(client, order_id: str, payment_id: str, signature: str | None = None, secret: str = KEY_SECRET):
    return client.post("/api/verify-payment", {
        "razorpay_order_id": order_id, "razorpay_payment_id": payment_id,
        "razorpay_signature": signature or payment_signature(order_id, payment_id, secret)}, format="json")


def status(client) -> dict:
    return client.get("/api/subscription/status").json()["data"]


def order_body(call) -> dict:
    return json.loads(call.request.body)


ORDER_ID = re.compile(r"^order_\w+$")
