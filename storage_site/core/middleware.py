"""Request ids, one access-log line per request, and unknown hosts refused plainly."""

import logging
import re
import time
import uuid

from django.core.exceptions import DisallowedHost
from django.http import HttpResponseBadRequest

from .logging import REQUEST_ID_HEADER, request_id_var

logger = logging.getLogger("stratus.request")

# A client's or proxy's id is kept only when it is short and plain, so it cannot
# forge log lines or headers.
_ACCEPTABLE = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_QUIET_PATHS = ("/healthz", "/readyz")


class RequestIdMiddleware:
    """Takes `X-Request-ID` from the caller (or makes one), makes it the context of
    every log line of the request, and echoes it in the response header."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        offered = request.headers.get(REQUEST_ID_HEADER, "")
        rid = offered if _ACCEPTABLE.match(offered) else uuid.uuid4().hex
        request.request_id = rid
        token = request_id_var.set(rid)
        started = time.monotonic()
        try:
            response = self.get_response(request)
            response[REQUEST_ID_HEADER] = rid
            level = logging.DEBUG if request.path in _QUIET_PATHS else logging.INFO
            logger.log(level, "%s %s %s", request.method, request.path, response.status_code, extra={
                "method": request.method, "path": request.path, "status": response.status_code,
                "duration_ms": round((time.monotonic() - started) * 1000, 1),
                "user_id": _user_id(request),
            })
            return response
        finally:
            request_id_var.reset(token)


def _user_id(request) -> str | None:
    # DRF authenticates inside the view; its user is on the DRF request, which Django's
    # request does not see, so only session (admin) users show here.
    user = getattr(request, "user", None)
    return str(user.uuid) if user is not None and getattr(user, "is_authenticated", False) else None


class AllowedHostMiddleware:
    """A `Host` outside ALLOWED_HOSTS is a plain 400, with DEBUG on too: Django's debug page
    for it lists settings and the environment, and a DNS-rebinding page could read it."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        try:
            request.get_host()
        except DisallowedHost:
            return HttpResponseBadRequest(b"Bad Request (400): unknown host.\n", content_type="text/plain")
        return self.get_response(request)
