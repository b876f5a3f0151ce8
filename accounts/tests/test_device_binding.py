"""Sessions bound to a device (MegaVault sign-in): refresh only with that device's id,
and removing the device ends its sessions. Other sessions behave as before."""

import pytest

from accounts import services
from accounts.models import AuthSession, Client
from accounts.tests.factories import PASSWORD
from storage_site.core.exceptions import TokenInvalid

pytestmark = pytest.mark.django_db


def _sign_in(user, device_id=""):
    return services.password_sign_in(identifier=user.email, password=PASSWORD, client=Client.MOBILE,
                                     ip_address="127.0.0.1", user_agent="test", device_id=device_id)


def test_bound_session_refreshes_only_with_its_device(user):
    signed = _sign_in(user, "phone-1")
    assert AuthSession.objects.get().device_id == "phone-1"
    for wrong in ("phone-2", "", None):
        with pytest.raises(TokenInvalid):
            services.session_refresh(refresh_token=signed.refresh, device_id=wrong)
    assert AuthSession.objects.get().refresh_jti == signed.session.refresh_jti  # not rotated
    rotated = services.session_refresh(refresh_token=signed.refresh, device_id="phone-1")
    assert rotated.refresh != signed.refresh


def test_unbound_session_keeps_the_old_behaviour(user, api_client):
    signed = services.password_sign_in(identifier=user.email, password=PASSWORD, client=Client.STREAMVAULT,
                                       ip_address=None, user_agent="")
    resp = api_client.post("/api/token/refresh", {"refreshToken": signed.refresh}, format="json")
    assert resp.status_code == 200
    assert resp.json()["data"]["expiresIn"] == 24 * 3600
    # ...but it is not a device's token.
    with pytest.raises(TokenInvalid):
        services.session_refresh(refresh_token=resp.json()["data"]["refreshToken"], device_id="phone-1")


def test_mobile_tokens_live_longer(user, settings):
    signed = _sign_in(user, "phone-1")
    assert signed.expires_in == int(settings.MOBILE_ACCESS_TOKEN_LIFETIME.total_seconds())


def test_revoke_for_device_ends_only_that_devices_sessions(user):
    _sign_in(user, "phone-1")
    _sign_in(user, "phone-2")
    assert services.sessions_revoke_for_device(user=user, device_id="phone-1") == 1
    assert services.sessions_revoke_for_device(user=user, device_id="") == 0
    live = AuthSession.objects.live()
    assert [s.device_id for s in live] == ["phone-2"]
