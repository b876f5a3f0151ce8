"""The Nextcloud dialect's HTTP side: discovery (status.php, OCS capabilities and
users), Login Flow v2 and signing a client out. Thin: the shapes come from
selectors, the rules from services, the envelopes from ocs."""

from django.http import JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from accounts import services as accounts
from dav import auth
from dav import views as dav_views
from web.pages import signed_in

from . import selectors, services, webdav
from .ocs import OcsError, endpoint


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


# --- WebDAV -------------------------------------------------------------------------------------

FILES = "/remote.php/dav/files/"
LEGACY_WEBDAV = "/remote.php/webdav"


@csrf_exempt
def dav_files(request, user_id):
    user, refusal = auth.authenticate(request)
    if refusal is not None:
        return refusal
    if user_id != user.username:
        return webdav.refusal(403, "These are not your files.")
    return _webdav(request, user, FILES + user_id)


@csrf_exempt
def legacy_webdav(request):
    user, refusal = auth.authenticate(request)
    if refusal is not None:
        return refusal
    return _webdav(request, user, LEGACY_WEBDAV)


def _webdav(request, user, mount: str):
    mtime = None
    if request.method == "PUT" and "HTTP_OC_CHUNKED" in request.META:  # else each chunk would be kept as a file
        return webdav.refusal(501, "Chunked upload v1 is not supported: use chunked upload v2.")
    if request.method == "PUT" and "HTTP_X_OC_MTIME" in request.META:
        mtime = webdav.mtime_parse(request.META["HTTP_X_OC_MTIME"])
        if mtime is None:  # refused before a byte is stored
            return webdav.refusal(400, "X-OC-Mtime must be a Unix timestamp.")
    response = dav_views.serve(request, user, webdav.nextcloud_app(), mount)
    webdav.answer_headers(response, user=user, method=request.method, path=request.path_info[len(mount):],
                          mtime=mtime)
    return response
