"""/dav/: WsgiDAV inside the Django application, so every server that runs the
project (gunicorn, runserver, the tests' live server) serves it, with the same
middleware (request ids, logs) as the other APIs."""

import functools
from itertools import chain
from wsgiref.util import is_hop_by_hop

from django.core.handlers.wsgi import LimitedStream
from django.http import HttpResponse, StreamingHttpResponse
from django.views.decorators.csrf import csrf_exempt
from wsgidav.dav_error import DAVErrorCondition
from wsgidav.wsgidav_app import WsgiDAVApp

from . import auth, locks
from .provider import INVALID_NAME, StratusProvider

MOUNT = "/dav"


@functools.cache
def dav_app() -> WsgiDAVApp:
    return WsgiDAVApp(dav_config())


def dav_config() -> dict:
    """WsgiDAV's configuration for /dav/ (a dialect served elsewhere starts from it)."""
    return {
        "mount_path": MOUNT,
        "provider_mapping": {"/": StratusProvider()},
        "lock_storage": locks.DatabaseLockStorage(),
        "property_manager": None,  # dead properties are kept per node by the provider
        # Signing in happens before WsgiDAV (dav.auth); no HTML directory pages.
        "middleware_stack": ["wsgidav.error_printer.ErrorPrinter", "wsgidav.request_resolver.RequestResolver"],
        "http_authenticator": {"domain_controller": None, "accept_basic": False, "accept_digest": False,
                               "default_to_digest": False, "trusted_auth_header": None},
        "dir_browser": {"enable": False},
        "block_size": 1024 * 1024,
        "verbose": 1,
        "logging": {"enable": False},
        "suppress_version_info": True,
        "add_header_MS_Author_Via": True,
        # Django has already decoded PATH_INFO (UTF-8) for the request.
        "hotfixes": {"re_encode_path_info": False, "unquote_path_info": False},
    }


@csrf_exempt
def dav(request):
    user, refusal = auth.authenticate(request)
    if refusal is not None:
        return refusal
    return serve(request, user, dav_app(), MOUNT)


def serve(request, user, app: WsgiDAVApp, mount: str, **extra):
    """A signed-in request handed to a WsgiDAV application: `mount` is the start of
    the URL path it serves below, `extra` more WSGI environ entries."""
    environ = dict(request.environ)
    environ["SCRIPT_NAME"] = environ.get("SCRIPT_NAME", "").rstrip("/") + mount
    environ["PATH_INFO"] = environ["PATH_INFO"][len(mount):] or "/"
    environ.setdefault("HTTP_HOST", request.get_host())  # COPY and MOVE compare the Destination's host with it
    length = environ.get("CONTENT_LENGTH")
    if length not in (None, ""):
        # Never read past the body, whatever the server hands over.
        environ["wsgi.input"] = LimitedStream(environ["wsgi.input"], int(length))
    environ.update({"wsgidav.auth.user_name": user.username, "wsgidav.auth.realm": auth.REALM,
                    "wsgidav.auth.roles": None, "wsgidav.auth.permissions": None, "stratus.user": user, **extra})
    started = {}

    def start_response(status, headers, exc_info=None):
        started.update(status=status, headers=headers)

    scope = locks.Scope(user)
    with locks.using(scope):
        body = app(environ, start_response)
        chunks = iter(body)
        first = next(chunks, b"")  # a GET starts its answer when first read
    status = int(started["status"].split(" ", 1)[0])
    if status == 500:  # WsgiDAV's page names the exception; it is in the log, not for the client
        if hasattr(body, "close"):
            body.close()
        return HttpResponse("Internal Server Error\n", status=500, content_type="text/plain; charset=utf-8")
    response = StreamingHttpResponse(_within(scope, chain([first], chunks), body), status=status)
    for name, value in started["headers"]:
        if not is_hop_by_hop(name):
            response[name] = value
    return response


def _input_refused(error) -> HttpResponse:
    """A control character in the path (refused before any view by the input check) as a
    DAV error body, the same as a name the provider refuses."""
    return HttpResponse(DAVErrorCondition(INVALID_NAME).as_string(), status=error.status_code,
                        content_type="application/xml; charset=utf-8")


dav.input_refused = _input_refused


def _within(scope, chunks, body):
    """The rest of the answer, read with the request's locks scope (a streamed
    multistatus may still ask about locks)."""
    try:
        while True:
            with locks.using(scope):
                chunk = next(chunks, None)
            if chunk is None:
                return
            yield chunk
    finally:
        if hasattr(body, "close"):
            body.close()
