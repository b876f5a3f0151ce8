"""Payment gateways: Razorpay through its SDK, and an offline stand-in for servers
without Razorpay keys. Both sign payments the same way (HMAC-SHA256 of
"order_id|payment_id"), so the rest of the billing code does not care which one runs."""

import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass

import razorpay
import requests
from django.conf import settings
from razorpay.errors import BadRequestError, GatewayError, ServerError, SignatureVerificationError

from .exceptions import PaymentServiceUnavailable
from .models import Gateway

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class GatewayOrder:
    id: str
    amount: int
    currency: str


class PaymentGateway:
    name: str
    key_id: str

    def order_create(self, *, amount: int, currency: str, receipt: str, notes: dict) -> GatewayOrder:
        raise NotImplementedError

    def payment_signature_valid(self, *, order_id: str, payment_id: str, signature: str) -> bool:
        raise NotImplementedError

    def webhook_secret(self) -> str:
        raise NotImplementedError

    def webhook_signature_valid(self, *, body: bytes, signature: str) -> bool:
        secret = self.webhook_secret()
        if not secret:
            logger.error("RAZORPAY_WEBHOOK_SECRET is not set: webhooks cannot be checked and are refused")
            raise PaymentServiceUnavailable("Webhooks are not configured on this server.")
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            return False
        try:
            # The SDK's own check; it encodes the text back to the same bytes.
            return bool(_utility().verify_webhook_signature(text, signature or "", secret))
        except SignatureVerificationError:
            return False


def _utility():
    return razorpay.Client(auth=("", "")).utility


class RazorpayGateway(PaymentGateway):
    name = Gateway.RAZORPAY

    def __init__(self, *, key_id: str, key_secret: str, webhook_secret: str, timeout: float):
        self.key_id = key_id
        self._webhook_secret = webhook_secret
        self._timeout = timeout
        self.client = razorpay.Client(auth=(key_id, key_secret))

    def order_create(self, *, amount, currency, receipt, notes) -> GatewayOrder:
        try:
            order = self.client.order.create(
                {"amount": amount, "currency": currency, "receipt": receipt, "notes": notes}, timeout=self._timeout)
        except (requests.RequestException, ValueError, ServerError, GatewayError) as exc:
            logger.warning("Razorpay order create failed: %s", exc)
            raise PaymentServiceUnavailable() from None
        except BadRequestError as exc:
            # The amount and currency are ours, so a 4xx means bad keys or a bad setup, not a bad client request.
            logger.error("Razorpay refused an order (check RAZORPAY_KEY_ID/SECRET): %s", exc)
            raise PaymentServiceUnavailable() from None
        try:
            return GatewayOrder(id=str(order["id"]), amount=int(order["amount"]), currency=str(order["currency"]))
        except (KeyError, TypeError, ValueError):
            logger.error("Razorpay answered an order without id/amount/currency: %r", order)
            raise PaymentServiceUnavailable() from None

    def payment_signature_valid(self, *, order_id, payment_id, signature) -> bool:
        try:
            return bool(self.client.utility.verify_payment_signature({
                "razorpay_order_id": order_id, "razorpay_payment_id": payment_id, "razorpay_signature": signature}))
        except SignatureVerificationError:
            return False

    def webhook_secret(self) -> str:
        return self._webhook_secret


class OfflineGateway(PaymentGateway):
    """Orders made locally; payments signed with a local secret. For servers without
    Razorpay keys: an operator marks a payment paid (`billing_mark_paid`, admin action)."""

    name = Gateway.OFFLINE
    key_id = "offline"

    def __init__(self, *, secret: str, webhook_secret: str = ""):
        self._secret = secret
        self._webhook_secret = webhook_secret or secret

    def order_create(self, *, amount, currency, receipt, notes) -> GatewayOrder:
        return GatewayOrder(id=f"order_{secrets.token_hex(7)}", amount=amount, currency=currency)

    def payment_sign(self, *, order_id: str, payment_id: str) -> str:
        return hmac.new(self._secret.encode(), f"{order_id}|{payment_id}".encode(), hashlib.sha256).hexdigest()

    def payment_signature_valid(self, *, order_id, payment_id, signature) -> bool:
        try:
            return bool(razorpay.Client(auth=("", self._secret)).utility.verify_payment_signature({
                "razorpay_order_id": order_id, "razorpay_payment_id": payment_id, "razorpay_signature": signature}))
        except SignatureVerificationError:
            return False

    def webhook_secret(self) -> str:
        return self._webhook_secret


def offline_secret() -> str:
    if settings.BILLING_OFFLINE_SECRET:
        return settings.BILLING_OFFLINE_SECRET
    # Derived, so it survives restarts and differs from the key it comes from.
    return hmac.new(settings.SECRET_KEY.encode(), b"stratus.billing.offline", hashlib.sha256).hexdigest()


def razorpay_configured() -> bool:
    return bool(settings.RAZORPAY_KEY_ID and settings.RAZORPAY_KEY_SECRET)


def gateway_get(name: str | None = None) -> PaymentGateway:
    """The gateway that serves new orders (None), or the one that made an existing order."""
    if name is None:
        name = Gateway.RAZORPAY if razorpay_configured() else Gateway.OFFLINE
    if name == Gateway.RAZORPAY:
        if not razorpay_configured():
            raise PaymentServiceUnavailable("Razorpay is not configured on this server.")
        return RazorpayGateway(key_id=settings.RAZORPAY_KEY_ID, key_secret=settings.RAZORPAY_KEY_SECRET,
                               webhook_secret=settings.RAZORPAY_WEBHOOK_SECRET, timeout=settings.RAZORPAY_TIMEOUT)
    return OfflineGateway(secret=offline_secret(), webhook_secret=settings.RAZORPAY_WEBHOOK_SECRET)
