"""Who a WebDAV request is: HTTP Basic with an app password, or the account password
unless WEBDAV_ACCOUNT_PASSWORDS is off. No anonymous access.

Wrong passwords are counted per client address and per sign-in name; past the
password sign-in rate (THROTTLE_PASSWORD_LOGIN) every attempt from there, or for
that name, is refused with 429 until the window ends, right password or not.
"""

import base64
import binascii
import hashlib
import hmac

from django.conf import settings
from django.core.cache import cache
from django.http import HttpResponse

from accounts import services as accounts
from accounts.models import User
from storage_site.core.api import client_ip

REALM = "Stratus WebDAV"
_DURATIONS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
# A verified account password is remembered this long (the hasher is slow on purpose,
# and a client sends the password with every request); a changed password misses.
ACCOUNT_PASSWORD_CACHE_SECONDS = 300


def _failure_limit() -> tuple[int, int]:
    rate = settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["password_login"]
    count, period = rate.split("/")
    return int(count), _DURATIONS[period[0]]


def basic_credentials(request) -> tuple[str, str] | None:
    header = request.META.get("HTTP_AUTHORIZATION", "")
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        identifier, sep, password = base64.b64decode(encoded.strip(), validate=True).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return (identifier, password) if sep and identifier else None


def _user_by_name(identifier: str) -> User | None:
    if "@" in identifier:
        return User.objects.filter(email__iexact=identifier).first()
    return User.objects.filter(username=identifier).first() or \
        (User.objects.filter(phone=identifier).first() if identifier.startswith("+") else None)


def _account_password_ok(user: User, password: str) -> bool:
    if not user.has_usable_password():
        return False
    key = "dav:pw:" + hmac.new(settings.SECRET_KEY.encode(), f"{user.pk}\0{user.password}\0{password}".encode(),
                               hashlib.sha256).hexdigest()
    if cache.get(key):
        return True
    if user.check_password(password):
        cache.set(key, 1, ACCOUNT_PASSWORD_CACHE_SECONDS)
        return True
    return False


def user_for(identifier: str, password: str) -> User | None:
    found = accounts.app_password_check(identifier=identifier, secret=password)
    if found:
        return found[0]
    if settings.WEBDAV_ACCOUNT_PASSWORDS:
        user = _user_by_name(identifier)
        if user is not None and user.is_active and _account_password_ok(user, password):
            return user
    return None


def _challenge(status: int = 401, message: str = "Sign in with your username and an app password.",
               retry_after: int | None = None) -> HttpResponse:
    response = HttpResponse(message + "\n", status=status, content_type="text/plain; charset=utf-8")
    if status == 401:
        response["WWW-Authenticate"] = f'Basic realm="{REALM}", charset="UTF-8"'
    if retry_after:
        response["Retry-After"] = str(retry_after)
    return response


def authenticate(request) -> tuple[User | None, HttpResponse | None]:
    """(user, None) for good credentials, else (None, the 401 or 429 to send)."""
    credentials = basic_credentials(request)
    if credentials is None:
        return None, _challenge()
    identifier, password = credentials
    limit, period = _failure_limit()
    keys = [f"dav:fail:ip:{client_ip(request)}",
            "dav:fail:id:" + hashlib.sha256(identifier.lower().encode()).hexdigest()]
    if any((count or 0) >= limit for count in cache.get_many(keys).values()):  # one round trip
        return None, _challenge(429, "Too many wrong passwords. Try again later.", retry_after=period)
    user = user_for(identifier, password)
    if user is None:
        for key in keys:
            cache.add(key, 0, period)
            try:
                cache.incr(key)
            except ValueError:  # expired in between
                cache.set(key, 1, period)
        return None, _challenge()
    return user, None
