"""The API's per-address sign-in throttles, applied to the web forms too: one rate and
one counter per scope, whichever door a request comes through."""

from types import SimpleNamespace

from rest_framework.throttling import ScopedRateThrottle

from storage_site.core.exceptions import TooManyAttempts


def throttle(request, scope: str) -> None:
    limiter = ScopedRateThrottle()
    if not limiter.allow_request(request, SimpleNamespace(throttle_scope=scope)):
        raise TooManyAttempts("Too many attempts from this address. Wait a little and try again.",
                              retry_after=limiter.wait() or 60)
