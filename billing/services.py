"""Every billing write: plans, orders, payment verification, webhook events,
subscriptions and the user limits they give.

Exactly one activation per payment: the paid transition is a compare-and-set on
`Payment.activated_at IS NULL` (plus a row lock), so the verify call, the webhook and
any replay of either race for it and only one wins, on PostgreSQL as on SQLite.
Subscription changes lock the user row, so two payments of one user apply in turn.
"""

import calendar
import hashlib
import json
import logging
import secrets
import uuid
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts import services as accounts
from accounts.models import User
from storage_site.core.exceptions import ApplicationError

from .exceptions import (
    InvalidPaymentRequest,
    OrderNotFound,
    PaymentServiceUnavailable,
    PaymentVerificationFailed,
    PlanExists,
    PlanNotFound,
)
from .gateways import gateway_get
from .models import (
    FREE_PLAN,
    Interval,
    Payment,
    PaymentStatus,
    Plan,
    Subscription,
    SubscriptionStatus,
    WebhookEvent,
    WebhookStatus,
)

logger = logging.getLogger(__name__)

RAZORPAY_MIN_AMOUNT = 100  # paise: Razorpay refuses orders under ₹1


# --- plans --------------------------------------------------------------------------

def plan_for_sale(*, plan_ref: str) -> Plan:
    """An active plan by code or UUID."""
    plans = Plan.objects.filter(is_active=True)
    ref = str(plan_ref).strip()
    try:
        plan = plans.filter(uuid=uuid.UUID(ref)).first()
    except ValueError:
        plan = plans.filter(code=ref.lower()).first()
    if plan is None:
        raise PlanNotFound()
    return plan


def plan_create(*, code: str, name: str, storage_quota: int, device_limit: int | None, price: int,
                currency: str = "INR", interval: str = Interval.MONTHLY, is_active: bool = True,
                sort_order: int = 0, description: str = "") -> Plan:
    if 0 < price < RAZORPAY_MIN_AMOUNT:
        raise InvalidPaymentRequest(f"A paid plan costs at least {RAZORPAY_MIN_AMOUNT} paise (₹1).")
    if Plan.objects.filter(code=code).exists():
        raise PlanExists()
    try:
        with transaction.atomic():
            return Plan.objects.create(code=code, name=name, storage_quota=storage_quota, device_limit=device_limit,
                                       price=price, currency=currency, interval=interval, is_active=is_active,
                                       sort_order=sort_order, description=description)
    except IntegrityError:  # lost a race for the same code
        raise PlanExists() from None


def plan_free() -> Plan:
    plan = Plan.objects.filter(code=FREE_PLAN).first()
    if plan is None:  # deleted by hand: recreate it with the defaults new users get
        plan, _ = Plan.objects.get_or_create(code=FREE_PLAN, defaults=dict(
            name="Free", storage_quota=settings.DEFAULT_STORAGE_QUOTA, device_limit=3, price=0))
    return plan


# --- subscriptions ------------------------------------------------------------------

def add_months(when, months: int):
    """Calendar months; the day is clamped (31 Jan + 1 month = 28/29 Feb)."""
    index = when.month - 1 + months
    year, month = when.year + index // 12, index % 12 + 1
    return when.replace(year=year, month=month, day=min(when.day, calendar.monthrange(year, month)[1]))


def _period_end(plan: Plan, start):
    return add_months(start, 12 if plan.interval == Interval.YEARLY else 1)


def _limits_apply(*, user: User, plan: Plan) -> None:
    accounts.user_plan_limits_set(user=user, plan=plan.code, storage_quota=plan.storage_quota,
                                  device_limit=plan.device_limit)


def _user_lock(user_id: int) -> User:
    # One subscription change per user at a time. Locks are always taken in the order
    # payment → user → subscription, so two writers never wait on each other in a circle.
    return User.objects.select_for_update().get(pk=user_id)


def _subscription_activate(*, user_id: int, plan: Plan, now) -> Subscription:
    """Start or extend the user's subscription; call inside a transaction.

    The same plan while still running adds one period to its end (early renewal);
    another plan, or a lapsed one, starts a new period now (no proration)."""
    user = _user_lock(user_id)
    sub = Subscription.objects.select_for_update().filter(user_id=user_id).first()
    if (sub is not None and sub.plan_id == plan.pk and sub.current_period_end > now
            and sub.status in (SubscriptionStatus.ACTIVE, SubscriptionStatus.PAST_DUE)):
        sub.current_period_end = _period_end(plan, sub.current_period_end)
    else:
        sub = sub or Subscription(user=user)
        sub.plan = plan
        sub.current_period_start = now
        sub.current_period_end = _period_end(plan, now)
    sub.status = SubscriptionStatus.ACTIVE
    sub.ended_at = None
    sub.save()
    _limits_apply(user=user, plan=plan)
    return sub


def _subscription_end(*, user: User, sub: Subscription, status: str, now) -> None:
    """Move the subscriber to Free; their files stay, uploads stop while over quota.
    The caller holds the user's and the subscription's locks."""
    sub.status = status
    sub.ended_at = now
    sub.save(update_fields=["status", "ended_at", "updated_at"])
    _limits_apply(user=user, plan=plan_free())


def subscription_cancel(*, subscription: Subscription) -> bool:
    """End a subscription at once (operator action). False if it had already ended."""
    with transaction.atomic():
        user = _user_lock(subscription.user_id)
        sub = Subscription.objects.select_for_update().get(pk=subscription.pk)
        if sub.status not in (SubscriptionStatus.ACTIVE, SubscriptionStatus.PAST_DUE):
            return False
        _subscription_end(user=user, sub=sub, status=SubscriptionStatus.CANCELLED, now=timezone.now())
        return True


def subscriptions_expire(*, now=None) -> int:
    """Ended periods: past due during BILLING_GRACE_DAYS (limits kept), then expired
    and on Free. Returns how many subscriptions changed."""
    now = now or timezone.now()
    grace = timedelta(days=settings.BILLING_GRACE_DAYS)
    changed = 0
    due = Subscription.objects.filter(status__in=[SubscriptionStatus.ACTIVE, SubscriptionStatus.PAST_DUE],
                                      current_period_end__lte=now).values_list("pk", "user_id")
    for pk, user_id in list(due):
        with transaction.atomic():
            user = User.objects.select_for_update().filter(pk=user_id).first()
            sub = Subscription.objects.select_for_update().filter(pk=pk).first()
            # Re-checked under the lock: a payment may have renewed it meanwhile.
            if user is None or sub is None or sub.current_period_end > now or sub.status not in (
                    SubscriptionStatus.ACTIVE, SubscriptionStatus.PAST_DUE):
                continue
            if sub.current_period_end + grace > now:
                if sub.status == SubscriptionStatus.PAST_DUE:
                    continue
                sub.status = SubscriptionStatus.PAST_DUE
                sub.save(update_fields=["status", "updated_at"])
            else:
                _subscription_end(user=user, sub=sub, status=SubscriptionStatus.EXPIRED, now=now)
            changed += 1
    return changed


# --- orders and payments ------------------------------------------------------------

def order_create(*, user: User, plan_ref: str) -> tuple[Payment, str]:
    """A gateway order for the plan's price. Returns the payment row and the key id
    Checkout needs. The network call runs outside any transaction."""
    plan = plan_for_sale(plan_ref=plan_ref)
    if plan.price == 0:
        raise InvalidPaymentRequest("This plan is free: it needs no payment.")
    gateway = gateway_get()
    receipt = f"rcpt_{secrets.token_hex(12)}"
    order = gateway.order_create(amount=plan.price, currency=plan.currency, receipt=receipt,
                                 notes={"user": str(user.uuid), "plan": plan.code})
    if order.amount != plan.price or order.currency != plan.currency:
        logger.error("gateway order %s has %s %s, expected %s %s", order.id, order.amount, order.currency,
                     plan.price, plan.currency)
        raise PaymentServiceUnavailable()
    payment = Payment.objects.create(user=user, plan=plan, gateway=gateway.name, order_id=order.id,
                                     receipt=receipt, amount=plan.price, currency=plan.currency)
    return payment, gateway.key_id


def _paid_apply(*, payment: Payment, payment_id: str | None, now) -> bool:
    """Mark the payment paid and activate its plan, once. Inside a transaction."""
    fields = {"status": PaymentStatus.PAID, "paid_at": now, "activated_at": now, "error_code": "",
              "error_description": ""}
    if payment_id and not payment.payment_id:
        if Payment.objects.filter(payment_id=payment_id).exclude(pk=payment.pk).exists():
            raise InvalidPaymentRequest("This payment belongs to another order.")
        fields["payment_id"] = payment_id
    won = (Payment.objects.filter(pk=payment.pk, activated_at__isnull=True)
           .exclude(status=PaymentStatus.REFUNDED).update(**fields))
    if not won:
        if payment_id and payment.payment_id and payment.payment_id != payment_id:
            logger.warning("order %s: payment %s after %s was already applied; not applied again",
                           payment.order_id, payment_id, payment.payment_id)
        return False
    _subscription_activate(user_id=payment.user_id, plan=payment.plan, now=now)
    payment.refresh_from_db()
    return True


def payment_verify(*, user: User, order_id: str, payment_id: str, signature: str) -> tuple[Payment, bool]:
    """Checkout's answer: check the signature, then activate (once). Returns the
    payment and whether this call activated it."""
    payment = Payment.objects.filter(user=user, order_id=order_id).select_related("plan").first()
    if payment is None:
        raise OrderNotFound()
    gateway = gateway_get(payment.gateway)
    if not gateway.payment_signature_valid(order_id=order_id, payment_id=payment_id, signature=signature):
        raise PaymentVerificationFailed("The payment signature does not match.")
    if payment.status == PaymentStatus.REFUNDED:
        raise InvalidPaymentRequest("This payment was refunded.")
    with transaction.atomic(durable=True):
        payment = Payment.objects.select_for_update(of=("self",)).select_related("plan").get(pk=payment.pk)
        activated = _paid_apply(payment=payment, payment_id=payment_id, now=timezone.now())
    return payment, activated


def payment_mark_paid_offline(*, order_id: str, payment_id: str | None = None) -> tuple[Payment, str, str, bool]:
    """An operator confirms an offline payment. Returns the payment, its payment id,
    the signature a client can send to /api/verify-payment, and whether this activated it."""
    payment = Payment.objects.filter(order_id=order_id).first()
    if payment is None:
        raise OrderNotFound()
    if payment.gateway != "offline":
        raise InvalidPaymentRequest("Only offline orders can be marked paid by hand.")
    payment_id = payment.payment_id or payment_id or f"pay_{secrets.token_hex(7)}"
    with transaction.atomic(durable=True):
        payment = Payment.objects.select_for_update(of=("self",)).select_related("plan").get(pk=payment.pk)
        activated = _paid_apply(payment=payment, payment_id=payment_id, now=timezone.now())
    payment_id = payment.payment_id or payment_id
    signature = gateway_get("offline").payment_sign(order_id=order_id, payment_id=payment_id)
    return payment, payment_id, signature, activated


# --- webhooks -----------------------------------------------------------------------

class _Refused(Exception):
    """A signed event we will not act on (recorded as failed)."""


def webhook_receive(*, body: bytes, signature: str, event_id: str | None) -> tuple[WebhookEvent, bool]:
    """Check the signature on the raw body, record the event once (committed before
    the caller answers), and queue its processing. Returns (event, newly recorded)."""
    from .tasks import webhook_event_process_task

    if not signature or not gateway_get().webhook_signature_valid(body=body, signature=signature):
        raise PaymentVerificationFailed("The webhook signature does not match.")
    try:
        data = json.loads(body)
    except ValueError:
        raise InvalidPaymentRequest("The webhook body is not JSON.") from None
    if not isinstance(data, dict) or not isinstance(data.get("event"), str):
        raise InvalidPaymentRequest("The webhook body has no event.")
    event_id = (event_id or str(data.get("id") or "")).strip()[:100] or f"sha256:{hashlib.sha256(body).hexdigest()}"
    with transaction.atomic(durable=True):
        event, created = WebhookEvent.objects.get_or_create(event_id=event_id, defaults={
            "event": data["event"][:60], "payload": data, "order_id": _order_id_of(data)[:64]})
        if created:
            # robust: the event is recorded either way; a failed enqueue is retried by the beat task.
            transaction.on_commit(lambda: webhook_event_process_task.delay(event.pk), robust=True)
    return event, created


def _entity(data: dict, name: str) -> dict:
    entity = ((data.get("payload") or {}).get(name) or {}).get("entity")
    return entity if isinstance(entity, dict) else {}


def _order_id_of(data: dict) -> str:
    try:
        return str(_entity(data, "order").get("id") or _entity(data, "payment").get("order_id") or "")
    except AttributeError:
        return ""


def _payment_for_order(order_id) -> Payment | None:
    if not order_id:
        return None
    return Payment.objects.select_for_update(of=("self",)).select_related("plan").filter(order_id=str(order_id)).first()


def _amount_check(payment: Payment, amount, currency) -> None:
    try:
        amount = int(amount)
    except (TypeError, ValueError):
        raise _Refused("the event has no amount") from None
    if amount != payment.amount or str(currency) != payment.currency:
        logger.warning("order %s: paid %s %s, the order is for %s %s; not activated", payment.order_id, amount,
                       currency, payment.amount, payment.currency)
        raise _Refused(f"amount {amount} {currency} does not match the order ({payment.amount} {payment.currency})")


def _on_payment_captured(data: dict, now) -> str:
    entity = _entity(data, "payment")
    payment = _payment_for_order(entity.get("order_id"))
    if payment is None:
        return WebhookStatus.IGNORED
    _amount_check(payment, entity.get("amount"), entity.get("currency"))
    _paid_apply(payment=payment, payment_id=entity.get("id"), now=now)
    return WebhookStatus.PROCESSED


def _on_order_paid(data: dict, now) -> str:
    order = _entity(data, "order")
    payment = _payment_for_order(order.get("id"))
    if payment is None:
        return WebhookStatus.IGNORED
    _amount_check(payment, order.get("amount_paid"), order.get("currency"))
    _paid_apply(payment=payment, payment_id=_entity(data, "payment").get("id"), now=now)
    return WebhookStatus.PROCESSED


def _on_payment_failed(data: dict, now) -> str:
    entity = _entity(data, "payment")
    payment = _payment_for_order(entity.get("order_id"))
    if payment is None:
        return WebhookStatus.IGNORED
    # A failed attempt never undoes a success: Checkout may retry an order several times.
    Payment.objects.filter(pk=payment.pk, status__in=[PaymentStatus.CREATED, PaymentStatus.FAILED]).update(
        status=PaymentStatus.FAILED, error_code=str(entity.get("error_code") or "")[:100],
        error_description=str(entity.get("error_description") or "")[:500])
    return WebhookStatus.PROCESSED


def _on_refund_processed(data: dict, now) -> str:
    """A full refund takes back what the payment bought: if its plan is the one the
    user is on, the subscription is cancelled and the user moves to Free at once.
    A partial refund is only recorded."""
    refund, paid = _entity(data, "refund"), _entity(data, "payment")
    payment = _payment_for_order(paid.get("order_id"))
    if payment is None and refund.get("payment_id"):
        payment = (Payment.objects.select_for_update(of=("self",)).select_related("plan")
                   .filter(payment_id=str(refund["payment_id"])).first())
    refund_of = str(refund.get("payment_id") or "")
    if payment is None or (refund_of and payment.payment_id and refund_of != payment.payment_id):
        return WebhookStatus.IGNORED  # not ours, or a refund of another attempt on the order
    try:
        refunded = max(payment.refunded_amount, int(refund.get("amount") or 0), int(paid.get("amount_refunded") or 0))
    except (TypeError, ValueError):
        raise _Refused("the refund has no amount") from None
    payment.refunded_amount = min(refunded, payment.amount)
    if refund_of and not payment.payment_id and not Payment.objects.filter(payment_id=refund_of).exists():
        payment.payment_id = refund_of
    fields = ["refunded_amount", "payment_id", "updated_at"]
    if payment.refunded_amount >= payment.amount and payment.status != PaymentStatus.REFUNDED:
        payment.status = PaymentStatus.REFUNDED
        fields.append("status")
        if payment.activated_at:
            user = _user_lock(payment.user_id)
            sub = Subscription.objects.select_for_update().filter(
                user_id=payment.user_id, plan=payment.plan,
                status__in=[SubscriptionStatus.ACTIVE, SubscriptionStatus.PAST_DUE]).first()
            if sub is not None:
                _subscription_end(user=user, sub=sub, status=SubscriptionStatus.CANCELLED, now=now)
    payment.save(update_fields=fields)
    return WebhookStatus.PROCESSED


_HANDLERS = {
    "payment.captured": _on_payment_captured,
    "order.paid": _on_order_paid,
    "payment.failed": _on_payment_failed,
    "refund.processed": _on_refund_processed,
}


def webhook_event_process(*, event_pk: int) -> None:
    """Act on a recorded event, once: the event row is locked and left RECEIVED only
    if processing crashed (then a retry starts over)."""
    with transaction.atomic():
        event = WebhookEvent.objects.select_for_update().filter(pk=event_pk).first()
        if event is None or event.status != WebhookStatus.RECEIVED:
            return
        handler = _HANDLERS.get(event.event)
        now = timezone.now()
        if handler is None:
            event.status, event.error = WebhookStatus.IGNORED, "event type not handled"
        else:
            try:
                with transaction.atomic():
                    event.status = handler(event.payload, now)
            except _Refused as exc:
                event.status, event.error = WebhookStatus.FAILED, str(exc)[:500]
            except ApplicationError as exc:
                event.status, event.error = WebhookStatus.FAILED, exc.message[:500]
            except (AttributeError, TypeError) as exc:  # a payload of an unexpected shape
                event.status, event.error = WebhookStatus.FAILED, f"malformed payload: {exc}"[:500]
        if event.status == WebhookStatus.IGNORED and not event.error:
            event.error = "nothing to act on (not our order, or another attempt)"
        event.processed_at = now
        event.save(update_fields=["status", "error", "processed_at"])


def webhook_events_retry(*, older_than: timedelta = timedelta(minutes=5)) -> int:
    """Queue again events still waiting (a lost enqueue or a crashed worker)."""
    from .tasks import webhook_event_process_task

    stale = list(WebhookEvent.objects.filter(status=WebhookStatus.RECEIVED,
                                             received_at__lt=timezone.now() - older_than).values_list("pk", flat=True))
    for pk in stale:
        webhook_event_process_task.delay(pk)
    return len(stale)
