"""The Nextcloud dialect's HTTP side: discovery (status.php, OCS capabilities and
users), Login Flow v2 and signing a client out. Thin: the shapes come from
selectors, the rules from services, the envelopes from ocs."""

from urllib.parse import quote, urlencode

from django.core import signing
from django.http import HttpResponseRedirect, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from accounts import services as accounts
from dav import auth
from dav import views as dav_views
from web.pages import CSP, signed_in

from . import checksums, search, selectors, services, trashbin, versions, webdav
from .ocs import OcsError, endpoint

LEGACY_FLOW_SALT = "nextcloud.login-flow"


def status(request):
    return JsonResponse(selectors.server_status())


@endpoint(signed_in=False)
def capabilities(request, version):
    return selectors.capabilities()


@endpoint()
def current_user(request, version):
    return selectors.user_profile(request.user)


@endpoint()
def user_detail(request, version, user_id):
    # Only oneself: another account's profile and quota are nobody else's business.
    if user_id != request.user.username:
        raise OcsError(404, "User does not exist")
    return selectors.user_profile(request.user)


@endpoint(signed_in=False, methods=("GET", "POST", "PUT", "DELETE"))
def unknown(request, version, route):
    raise OcsError(404, "Invalid query, please check the syntax.")


@endpoint(methods=("DELETE",))
def app_password_delete(request, version):
    """A client signs itself out: the app password it signed in with is revoked."""
    identifier, password = auth.basic_credentials(request)
    found = accounts.app_password_check(identifier=identifier, secret=password)
    if found is None:
        raise OcsError(403, "Password confirmation is required")  # signed in with the account password
    accounts.app_password_revoke(app_password=found[1])
    return []


# --- Login Flow v2 ----------------------------------------------------------------------------

def _server(request) -> str:
    return request.build_absolute_uri("/").rstrip("/")


@csrf_exempt
@require_POST
def login_flow_start(request):
    login_token, poll_token = services.login_flow_start(user_agent=request.META.get("HTTP_USER_AGENT", ""))
    return JsonResponse({
        "poll": {"token": poll_token, "endpoint": _server(request) + reverse("nextcloud:login-flow-poll")},
        "login": _server(request) + reverse("nextcloud:login-flow-page", args=[login_token]),
    })


@csrf_exempt
@require_POST
def login_flow_poll(request):
    collected = services.login_flow_collect(poll_token=request.POST.get("token", ""))
    if collected is None:
        return JsonResponse([], status=404, safe=False)
    flow, app_password, secret = collected
    return JsonResponse({"server": _server(request), "loginName": flow.granted_by.username, "appPassword": secret})


@signed_in
@require_http_methods(["GET", "POST"])
def login_flow_page(request, login_token):
    """The page the client opens in a browser: the web drive's sign-in first (password
    or WhatsApp code), then the person grants the client access."""
    flow = services.login_flow_by_login_token(login_token)
    if flow is None:
        return render(request, "nextcloud/login_flow.html", {"state": "expired"}, status=404)
    context = {"state": "grant", "client_name": flow.client_name, "user_name": request.user.username}
    if request.method == "POST":
        if not services.login_flow_grant(flow=flow, user=request.user):
            return render(request, "nextcloud/login_flow.html", {"state": "expired"}, status=404)
        context["state"] = "granted"
    return render(request, "nextcloud/login_flow.html", context)


# --- the older login flow ---------------------------------------------------------------------

class _ClientRedirect(HttpResponseRedirect):
    allowed_schemes = ["nc"]


def login_flow_legacy(request):
    """The older flow: a client opens this in its own browser window (with the
    OCS-APIREQUEST header, so no other site can start it); the person signs in and
    grants access on the next page, which ends in the client's `nc://login/…` URL."""
    if request.headers.get("OCS-APIREQUEST", "").lower() != "true":
        return render(request, "nextcloud/login_flow.html", {"state": "client-only"}, status=400)
    state = signing.dumps({"client": services.client_name(request.headers.get("User-Agent", ""))},
                          salt=LEGACY_FLOW_SALT)
    return redirect(reverse("nextcloud:login-flow-legacy-grant") + "?" + urlencode({"state": state}))


@signed_in
@require_http_methods(["GET", "POST"])
def login_flow_legacy_grant(request):
    try:
        client = signing.loads(request.GET.get("state", ""), salt=LEGACY_FLOW_SALT,
                               max_age=services.LOGIN_FLOW_LIFETIME)["client"]
    except (signing.BadSignature, KeyError, TypeError):
        return render(request, "nextcloud/login_flow.html", {"state": "expired"}, status=404)
    if request.method == "GET":
        page = render(request, "nextcloud/login_flow.html",
                      {"state": "grant", "client_name": client, "user_name": request.user.username})
        # The form's answer redirects to the client's nc:// URL, which the browser checks
        # against form-action too.
        page["Content-Security-Policy"] = CSP.replace("form-action 'self'", "form-action 'self' nc:")
        return page
    _, secret = accounts.app_password_create(user=request.user, name=client)
    return _ClientRedirect(f"nc://login/server:{_server(request)}&user:{quote(request.user.username)}"
                           f"&password:{quote(secret)}")


# --- WebDAV -------------------------------------------------------------------------------------

FILES = "/remote.php/dav/files/"
LEGACY_WEBDAV = "/remote.php/webdav"


def _signed_in_as(request, user_id):
    """(user, None) when the request signs in as the user its URL names, else (None, refusal)."""
    user, refusal = auth.authenticate(request)
    if refusal is None and user_id != user.username:
        return None, webdav.refusal(403, "These are not your files.")
    return user, refusal


@csrf_exempt
def dav_files(request, user_id):
    user, refusal = _signed_in_as(request, user_id)
    if refusal is not None:
        return refusal
    if request.method == "REPORT":
        return search.filter_files(request, user, request.path_info[len(FILES + user_id):])
    return _webdav(request, user, FILES + user_id)


@csrf_exempt
def dav_trashbin(request, user_id, rest=""):
    user, refusal = _signed_in_as(request, user_id)
    return refusal if refusal is not None else trashbin.serve(request, user, rest)


@csrf_exempt
def dav_versions(request, user_id, rest=""):
    user, refusal = _signed_in_as(request, user_id)
    return refusal if refusal is not None else versions.serve(request, user, rest)


@csrf_exempt
def dav_root(request):
    """/remote.php/dav/ itself: where the apps send SEARCH."""
    user, refusal = auth.authenticate(request)
    if refusal is not None:
        return refusal
    if request.method != "SEARCH":
        return webdav.refusal(405, f"{request.method} is not allowed here.")
    return search.search(request, user)


@csrf_exempt
def legacy_webdav(request):
    user, refusal = auth.authenticate(request)
    if refusal is not None:
        return refusal
    return _webdav(request, user, LEGACY_WEBDAV)


def _webdav(request, user, mount: str):
    mtime = checksum = None
    if request.method == "PUT" and "HTTP_OC_CHUNKED" in request.META:  # else each chunk would be kept as a file
        return webdav.refusal(501, "Chunked upload v1 is not supported: use chunked upload v2.")
    if request.method == "PUT" and "HTTP_X_OC_MTIME" in request.META:
        mtime = webdav.mtime_parse(request.META["HTTP_X_OC_MTIME"])
        if mtime is None:  # refused before a byte is stored
            return webdav.refusal(400, "X-OC-Mtime must be a Unix timestamp.")
    if request.method == "PUT" and "HTTP_OC_CHECKSUM" in request.META:
        try:
            checksum = checksums.body_verify(request)
        except (checksums.ChecksumInvalid, checksums.ChecksumMismatch) as exc:  # a bad header; an empty body
            return webdav.refusal(400, exc.message)
    served = {}
    response = dav_views.serve(request, user, webdav.nextcloud_app(), mount, **{webdav.SERVED: served})
    path = request.path_info[len(mount):]
    if request.method in ("MOVE", "COPY"):  # the headers describe the entry at the destination
        path = (webdav.destination_path(request) or "")[len(mount):]
    webdav.answer_headers(response, user=user, method=request.method, path=path, mtime=mtime, checksum=checksum,
                          served=served)
    return response
