"""Nextcloud's OCS envelopes (/ocs/v1.php/... and /ocs/v2.php/...).

    {"ocs": {"meta": {"status", "statuscode", "message", "totalitems", "itemsperpage"}, "data": ...}}

JSON with `format=json` or an `Accept: application/json`, XML otherwise. Version 1
says success with status code 100 and answers HTTP 200 to everything but a missing
sign-in (401); version 2 says 200 and its HTTP status is the status code.
"""

import functools
from xml.etree import ElementTree

from django.http import HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from dav import auth
from storage_site.core.exceptions import ApplicationError

# Nextcloud's own codes for a missing sign-in and an unknown route or object (version 1).
UNAUTHORISED = 997
NOT_FOUND = 998


class OcsError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


def _wants_json(request) -> bool:
    fmt = request.GET.get("format", "").lower()
    if fmt:
        return fmt == "json"
    return "application/json" in request.META.get("HTTP_ACCEPT", "")


def _xml(parent, value) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            _xml(ElementTree.SubElement(parent, str(key)), item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            _xml(ElementTree.SubElement(parent, "element"), item)
    elif isinstance(value, bool):
        parent.text = "1" if value else ""  # as Nextcloud writes booleans in XML
    elif value is not None:
        parent.text = str(value)


def respond(request, version: str, data=None, *, status: int = 200, message: str = "OK") -> HttpResponse:
    ok = status == 200
    if version == "1":
        code = 100 if ok else (NOT_FOUND if status == 404 else status)
        http_status = 401 if status in (401, UNAUTHORISED) else 200
        code = UNAUTHORISED if status == 401 else code
    else:
        code = UNAUTHORISED if status == 401 else status
        http_status = status
    meta = {"status": "ok" if ok else "failure", "statuscode": code, "message": message,
            "totalitems": "", "itemsperpage": ""}
    body = {"meta": meta, "data": data if data is not None else []}
    if _wants_json(request):
        return JsonResponse({"ocs": body}, status=http_status, json_dumps_params={"ensure_ascii": False})
    root = ElementTree.Element("ocs")
    _xml(root, body)
    xml = b'<?xml version="1.0"?>\n' + ElementTree.tostring(root, encoding="utf-8")
    return HttpResponse(xml, status=http_status, content_type="application/xml; charset=utf-8")


def endpoint(*, signed_in: bool = True, methods: tuple[str, ...] = ("GET",)):
    """An OCS view: `view(request, version, **kwargs)` returns the data, or raises
    OcsError. With `signed_in` the user comes from HTTP Basic as for WebDAV
    (dav.auth: app passwords or the account password, the same throttling).
    No cookies are read, so `OCS-APIRequest` (which Nextcloud needs against
    cross-site requests riding on a session cookie) is accepted but not needed."""
    def wrap(view):
        @csrf_exempt
        @functools.wraps(view)
        def handle(request, version, **kwargs):
            if request.method not in methods:
                return respond(request, version, status=405, message="Method not allowed")
            if signed_in:
                user, refusal = auth.authenticate(request)
                if refusal is not None:
                    answer = respond(request, version, status=refusal.status_code,
                                     message=refusal.content.decode().strip())
                    for header in ("WWW-Authenticate", "Retry-After"):
                        if refusal.has_header(header):
                            answer[header] = refusal[header]
                    return answer
                request.user = user
            try:
                data = view(request, version, **kwargs)
            except OcsError as error:
                return respond(request, version, status=error.status, message=error.message)
            except ApplicationError as error:  # a service's refusal, in the envelope
                return respond(request, version, status=error.status_code, message=error.message)
            return respond(request, version, data)
        return handle
    return wrap
