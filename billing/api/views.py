"""LayoodStorage payment API: plans, Razorpay orders,
payment verification, the Razorpay webhook, subscription status and history."""

from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.permissions import AllowAny

from accounts.permissions import IsAdminRole
from storage_site.core.api import PRIMARY_ERRORS, ErrorEnvelopeSerializer, PrimaryListView, PrimaryView, envelope, ok

from .. import selectors, services
from ..exceptions import InvalidPaymentRequest
from .serializers import (
    CheckoutSerializer,
    OrderCreateSerializer,
    PaymentSerializer,
    PlanCreateSerializer,
    PlanListItemSerializer,
    PlanSerializer,
    StatusSerializer,
    SubscriptionSerializer,
    VerifySerializer,
)

ERRORS = {**PRIMARY_ERRORS, 503: ErrorEnvelopeSerializer}
TAGS = ["billing"]


def _payment_input(serializer_class, data) -> dict:
    """Bad payment input is INVALID_PAYMENT_REQUEST, LayoodStorage's code."""
    payload = serializer_class(data=data)
    if not payload.is_valid():
        errors = payload.errors
        field, messages = next(iter(errors.items()))
        text = messages[0] if isinstance(messages, list) and messages else str(messages)
        prefix = "" if field == "non_field_errors" else f"{field}: "
        raise InvalidPaymentRequest(f"{prefix}{text}", details=errors)
    return payload.validated_data


class PlanListView(PrimaryView):
    # Public, so a pricing page works before sign-in; a signed-in caller also sees `current`.
    permission_classes = [AllowAny]

    @extend_schema(tags=TAGS, summary="Storage plans",
                   responses={200: envelope("PlanList", serializers.DictField()), 401: ErrorEnvelopeSerializer},
                   description="Active plans, cheapest first: `{\"plans\": [...]}`. `price` is in paise per "
                               "`interval`; `deviceLimit` null means no limit. No sign-in needed; with a valid "
                               "token each plan also says whether it is the caller's (`current`). An invalid "
                               "token is still a 401.")
    def get(self, request):
        current = request.user.plan if request.user.is_authenticated else None
        plans = PlanListItemSerializer(selectors.plans_listed(), many=True, context={"current_plan": current}).data
        return ok({"plans": plans})


class PlanCreateView(PrimaryView):
    permission_classes = [IsAdminRole]

    @extend_schema(tags=TAGS, summary="Create a plan (admin)", request=PlanCreateSerializer,
                   responses={201: envelope("PlanCreated", PlanSerializer()), 403: ErrorEnvelopeSerializer,
                              409: ErrorEnvelopeSerializer, **PRIMARY_ERRORS},
                   description="Admin role only (a client gets 403 INSUFFICIENT_ROLE). A taken `code` is "
                               "409 PLAN_EXISTS; a paid plan costs at least 100 paise.")
    def post(self, request):
        payload = PlanCreateSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        plan = services.plan_create(
            code=data["code"], name=data["name"], description=data["description"], storage_quota=data["storageQuota"],
            device_limit=data["deviceLimit"], price=data["price"], currency=data["currency"],
            interval=data["interval"], is_active=data["isActive"], sort_order=data["sortOrder"])
        return ok(PlanSerializer(plan).data, message="Plan created", status=201)


class OrderCreateView(PrimaryView):
    @extend_schema(tags=TAGS, summary="Create a payment order", request=OrderCreateSerializer,
                   responses={201: envelope("CheckoutResponse", CheckoutSerializer()), **ERRORS},
                   description="Makes a Razorpay order for the plan's price (the amount always comes from the "
                               "plan; anything the client sends is ignored) and answers Razorpay Checkout's "
                               "options: `order_id`, `amount` (paise), `currency`, `key_id`, `name`, "
                               "`description`, `prefill`. Unknown or inactive plan: 404 PLAN_NOT_FOUND; the free "
                               "plan: 400 INVALID_PAYMENT_REQUEST; Razorpay unreachable or failing: 503 "
                               "PAYMENT_SERVICE_UNAVAILABLE. Without Razorpay keys the server makes an offline "
                               "order (`gateway: offline`, `key_id: offline`) that an operator marks paid.")
    def post(self, request):
        data = _payment_input(OrderCreateSerializer, request.data)
        payment, key_id = services.order_create(user=request.user, plan_ref=data["plan_ref"])
        user = request.user
        return ok({
            "order_id": payment.order_id, "amount": payment.amount, "currency": payment.currency, "key_id": key_id,
            "gateway": payment.gateway, "receipt": payment.receipt, "name": settings.BILLING_CHECKOUT_NAME,
            "description": f"{payment.plan.name} plan ({payment.plan.interval})",
            "prefill": {k: v for k, v in (("name", user.full_name), ("email", user.email or ""),
                                          ("contact", user.phone or "")) if v},
            "plan": PlanSerializer(payment.plan).data,
        }, status=201)


class VerifyPaymentView(PrimaryView):
    @extend_schema(tags=TAGS, summary="Verify a payment and activate the plan", request=VerifySerializer,
                   responses={200: envelope("Verified", serializers.DictField()), **ERRORS},
                   description="Send what Checkout's handler received. The signature (HMAC-SHA256 of "
                               "`order_id|payment_id`) is checked; then the plan's quota and device limit apply at "
                               "once. Verifying again is harmless (`activated: false`). Another user's or an "
                               "unknown order: 404 ORDER_NOT_FOUND; a wrong signature: 400 "
                               "PAYMENT_VERIFICATION_FAILED. Answers `{payment, subscription, activated}`.")
    def post(self, request):
        data = _payment_input(VerifySerializer, request.data)
        payment, activated = services.payment_verify(
            user=request.user, order_id=data["razorpay_order_id"], payment_id=data["razorpay_payment_id"],
            signature=data["razorpay_signature"])
        sub = selectors.subscription_status(request.user)["subscription"]
        return ok({"payment": PaymentSerializer(payment).data,
                   "subscription": SubscriptionSerializer(sub).data if sub else None,
                   "activated": activated}, message="Payment verified")


class PaymentHistoryView(PrimaryListView):
    serializer_class = PaymentSerializer

    def listing(self):
        return selectors.payments_for(self.request.user)

    @extend_schema(tags=TAGS, summary="Payment history",
                   description="The caller's own orders and payments, newest first; paginated (`page`, "
                               "`pageSize`). `status`: created, paid, failed, refunded; amounts in paise.")
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class SubscriptionStatusView(PrimaryView):
    @extend_schema(tags=TAGS, summary="Subscription status",
                   responses={200: envelope("SubscriptionStatus", StatusSerializer()), **PRIMARY_ERRORS},
                   description="The plan whose limits apply now, the subscription's status and period, the "
                               "effective quota (an admin's override wins over the plan), usage and device limit.")
    def get(self, request):
        return ok(StatusSerializer(selectors.subscription_status(request.user)).data)


class RazorpayWebhookView(PrimaryView):
    authentication_classes = []  # Razorpay signs the body instead
    permission_classes = [AllowAny]

    @extend_schema(tags=TAGS, summary="Razorpay webhook", request=OpenApiTypes.OBJECT,
                   parameters=[
                       OpenApiParameter("X-Razorpay-Signature", str, OpenApiParameter.HEADER, required=True,
                                        description="HMAC-SHA256 of the raw body with RAZORPAY_WEBHOOK_SECRET."),
                       OpenApiParameter("X-Razorpay-Event-Id", str, OpenApiParameter.HEADER,
                                        description="Each event is acted on once by this id."),
                   ],
                   responses={200: envelope("WebhookRecorded", serializers.DictField()), **ERRORS},
                   description="Handles payment.captured, order.paid, payment.failed and refund.processed, in "
                               "any order and any number of times. The event is recorded before the answer and "
                               "processed in the background. A bad signature: 400 PAYMENT_VERIFICATION_FAILED.")
    def post(self, request):
        event, created = services.webhook_receive(
            body=request.body, signature=request.headers.get("X-Razorpay-Signature", ""),
            event_id=request.headers.get("X-Razorpay-Event-Id"))
        return ok({"eventId": event.event_id, "duplicate": not created})
