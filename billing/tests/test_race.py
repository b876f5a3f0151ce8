"""The verify call and the webhook racing: exactly one activation (needs PostgreSQL row locks)."""

import threading

import pytest
from django.db import connection

from billing.models import Payment, Plan, Subscription
from billing.services import add_months

from .helpers import captured, order_for, order_paid, post_webhook, verify


@pytest.mark.skipif(connection.vendor == "sqlite", reason="in-memory shared-cache SQLite locks whole tables with "
                    "no busy timeout; the race runs on PostgreSQL in CI")
@pytest.mark.django_db(transaction=True)
def test_verify_and_webhooks_racing_activate_once(razorpay, user, client_for):
    from storage_site.testing.client import Client

    # Earlier transactional tests flush the tables, seeded plans included.
    Plan.objects.get_or_create(code="pro", defaults=dict(name="Pro", storage_quota=100 * 1024**3, device_limit=10,
                                                         price=29_900))
    owner = client_for(user)
    orders = [order_for(owner)["order_id"] for _ in range(3)]
    for order_id in orders:
        start = threading.Barrier(4)
        results = []

        def run(call):
            try:
                start.wait()
                results.append(call().status_code)
            finally:
                connection.close()

        calls = [
            lambda: verify(client_for(user), order_id, f"pay_{order_id}"),
            lambda: verify(client_for(user), order_id, f"pay_{order_id}"),
            lambda: post_webhook(Client(), captured(order_id, f"pay_{order_id}", 29_900)),
            lambda: post_webhook(Client(), order_paid(order_id, f"pay_{order_id}", 29_900)),
        ]
        threads = [threading.Thread(target=run, args=(c,)) for c in calls]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert results == [200] * 4
    assert Payment.objects.filter(status="paid", activated_at__isnull=False).count() == 3
    sub = Subscription.objects.get(user=user)
    expected = sub.current_period_start
    for _ in orders:  # each payment adds one month, once
        expected = add_months(expected, 1)
    assert sub.current_period_end == expected
