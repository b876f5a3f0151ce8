"""Request ids and one access-log line per request; unknown hosts refused plainly; the
input check of what the URL and headers carry."""

import logging
import re
import time
import uuid

from django.core.exceptions import DisallowedHost, SuspiciousOperation
from django.http import HttpResponseBadRequest, JsonResponse

from . import inputs
from .exceptions import ApplicationError, _as_application_error, render_error
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


class InputCheckMiddleware:
    """Refuses a control character (NUL first of all) in the path, a path parameter, a
    query parameter or a header before the view, its authentication or any query runs:
    a 400 in the error shape of the API the URL belongs to. Bodies are the parsers' part
    (storage_site.core.parsers)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        try:
            _request_check(request, [*view_args, *view_kwargs.values()])
        except (ApplicationError, SuspiciousOperation) as exc:  # a query string of too many fields, too
            error = _as_application_error(exc)
            view_class = getattr(view_func, "cls", None) or getattr(view_func, "view_class", None)
            dialect = getattr(view_class, "error_dialect", "primary")
            return JsonResponse(render_error(error, dialect), status=error.status_code)
        return None


def _request_check(request, path_values) -> None:
    inputs.name_check(request.path_info, where="the path")
    for value in path_values:
        if isinstance(value, str):
            inputs.name_check(value, where="the path")
    for key, values in request.GET.lists():
        inputs.name_check(key, where="the query string")
        for value in values:
            inputs.name_check(value, where=f"the query parameter {key}")
    for key, value in request.META.items():
        if (key.startswith("HTTP_") or key in ("CONTENT_TYPE", "CONTENT_LENGTH")) and isinstance(value, str):
            inputs.header_check(value, where=f"the header {key.removeprefix('HTTP_').replace('_', '-').title()}")
