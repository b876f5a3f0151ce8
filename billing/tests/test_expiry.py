"""Ended subscriptions expire to Free: files are kept, uploads are refused while over quota."""

from datetime import timedelta

import pytest
from django.utils import timezone

from billing import tasks
from billing.models import Plan, Subscription
from files.tests.helpers import download, upload

from .helpers import order_for, status, verify

pytestmark = pytest.mark.django_db


def _subscribe(client):
    order_id = order_for(client)["order_id"]
    assert verify(client, order_id, f"pay_{order_id[-10:]}").status_code == 200


def _end_period(user, ago=timedelta(minutes=1)):
    Subscription.objects.filter(user=user).update(current_period_end=timezone.now() - ago)


def test_expired_subscription_moves_to_free_and_keeps_files(razorpay, auth_client, user):
    Plan.objects.filter(code="free").update(storage_quota=100)  # small Free, so the user ends up over it
    _subscribe(auth_client)
    kept = upload(auth_client, "big.bin", b"x" * 300)
    assert tasks.subscriptions_expire_task.delay().get() == 0  # still running: nothing to do
    _end_period(user)
    assert tasks.subscriptions_expire_task.delay().get() == 1
    now = status(auth_client)
    assert now["plan"]["code"] == "free" and now["status"] == "expired" and now["quota"] == 100
    assert now["used"] == 300 and now["available"] == 0
    assert download(auth_client, kept["id"]) == b"x" * 300
    refused = upload(auth_client, "more.bin", b"y", expect=413)
    assert refused["error"]["code"] == "STORAGE_QUOTA_EXCEEDED"
    assert tasks.subscriptions_expire_task.delay().get() == 0  # already expired


def test_paying_again_after_expiry_starts_a_new_period(razorpay, auth_client, user):
    _subscribe(auth_client)
    _end_period(user, ago=timedelta(days=40))
    tasks.subscriptions_expire_task.delay().get()
    _subscribe(auth_client)
    sub = Subscription.objects.get(user=user)
    assert sub.status == "active" and sub.current_period_start > timezone.now() - timedelta(minutes=1)
    assert status(auth_client)["plan"]["code"] == "pro"


def test_grace_days_keep_the_plan_while_past_due(razorpay, settings, auth_client, user):
    settings.BILLING_GRACE_DAYS = 3
    _subscribe(auth_client)
    _end_period(user, ago=timedelta(days=1))
    assert tasks.subscriptions_expire_task.delay().get() == 1
    now = status(auth_client)
    assert now["status"] == "past_due" and now["plan"]["code"] == "pro"
    _end_period(user, ago=timedelta(days=4))
    assert tasks.subscriptions_expire_task.delay().get() == 1
    assert status(auth_client)["status"] == "expired" and status(auth_client)["plan"]["code"] == "free"


def test_other_users_are_untouched(razorpay, auth_client, other_client, user, other_user):
    _subscribe(auth_client)
    _subscribe(other_client)
    _end_period(user)
    tasks.subscriptions_expire_task.delay().get()
    assert status(auth_client)["plan"]["code"] == "free"
    assert status(other_client)["plan"]["code"] == "pro"


def test_command_runs_the_same_expiry(razorpay, auth_client, user):
    from io import StringIO

    from django.core.management import call_command

    _subscribe(auth_client)
    _end_period(user)
    out = StringIO()
    call_command("billing_expire_subscriptions", stdout=out)
    assert out.getvalue().startswith("1 ")
    assert status(auth_client)["status"] == "expired"


@pytest.mark.parametrize("start, months, end", [
    ("2025-01-31", 1, "2025-02-28"), ("2024-01-31", 1, "2024-02-29"), ("2025-12-15", 1, "2026-01-15"),
    ("2024-02-29", 12, "2025-02-28"), ("2025-03-31", 1, "2025-04-30"),
])
def test_periods_are_calendar_months(start, months, end):
    from datetime import date

    from billing.services import add_months

    assert add_months(date.fromisoformat(start), months) == date.fromisoformat(end)


def test_yearly_plan_runs_a_year(razorpay, auth_client, user):
    Plan.objects.filter(code="pro").update(interval="yearly")
    _subscribe(auth_client)
    sub = Subscription.objects.get(user=user)
    assert sub.current_period_end.year == sub.current_period_start.year + 1
