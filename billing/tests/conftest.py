import pytest
import responses

from .helpers import KEY_ID, KEY_SECRET, WEBHOOK_SECRET, mock_orders


@pytest.fixture
def razorpay(settings):
    """Razorpay keys set; its API answered from recorded responses (no network)."""
    settings.RAZORPAY_KEY_ID = KEY_ID
    settings.RAZORPAY_KEY_SECRET = KEY_SECRET
    settings.RAZORPAY_WEBHOOK_SECRET = WEBHOOK_SECRET
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        mock_orders(rsps)
        yield rsps


@pytest.fixture
def offline(settings):
    """No Razorpay keys: the offline gateway, with a known local secret."""
    settings.RAZORPAY_KEY_ID = ""
    settings.RAZORPAY_KEY_SECRET = ""
    settings.RAZORPAY_WEBHOOK_SECRET = ""
    settings.BILLING_OFFLINE_SECRET = "offline-test-secret"
    with responses.RequestsMock() as rsps:  # any HTTP call would fail the test
        yield rsps
