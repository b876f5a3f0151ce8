"""Sign in (WhatsApp code, or e-mail/username and password) and sign out.

The forms call the same services as the API's sign-in doors, with the same per-address
throttles; the session they make is an `accounts` session, revocable in the admin."""

from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods, require_POST

from accounts import browser, services
from accounts.models import Client
from storage_site.core.api import client_ip, user_agent
from storage_site.core.exceptions import ApplicationError

from ..pages import harden, page
from ..throttles import throttle


def _next(request) -> str:
    target = request.POST.get("next") or request.GET.get("next") or "/"
    return target if url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()},
                                                     require_https=request.is_secure()) else "/"


def _signed_in(request, sign_in):
    response = redirect(_next(request))
    browser.session_cookie_set(request, response, session=sign_in.session)
    return response


def _form(request, *, status=200, **context):
    return render(request, "web/signin.html", {"next": _next(request), **context}, status=status)


@page
@require_http_methods(["GET", "HEAD"])
def signin(request):
    if browser.session_from_request(request) is not None:
        return redirect(_next(request))
    return _form(request)


@page
@require_POST
def signin_password(request):
    identifier = request.POST.get("identifier", "").strip()
    try:
        throttle(request, "password_login")
        sign_in = services.password_sign_in(identifier=identifier, password=request.POST.get("password", ""),
                                            client=Client.BROWSER, ip_address=client_ip(request),
                                            user_agent=user_agent(request))
    except ApplicationError as exc:
        return _form(request, status=exc.status_code, password_error=exc.message, identifier=identifier)
    return _signed_in(request, sign_in)


@page
@require_POST
def signin_code(request):
    """Send a WhatsApp code, then ask for it."""
    raw = request.POST.get("phone", "").strip()
    try:
        throttle(request, "otp_request")
        phone = services.phone_normalize(raw)
        services.otp_request(phone=phone)
    except ApplicationError as exc:
        return _form(request, status=exc.status_code, phone_error=exc.message, phone=raw)
    return render(request, "web/signin_code.html", {"next": _next(request), "phone": phone})


@page
@require_POST
def signin_verify(request):
    phone = request.POST.get("phone", "")
    try:
        throttle(request, "otp_verify")
        phone = services.phone_normalize(phone)
        sign_in = services.otp_verify(phone=phone, code=request.POST.get("code", "").strip(),
                                      client=Client.BROWSER, ip_address=client_ip(request),
                                      user_agent=user_agent(request))
    except ApplicationError as exc:
        return render(request, "web/signin_code.html", {"next": _next(request), "phone": phone,
                                                        "error": exc.message}, status=exc.status_code)
    return _signed_in(request, sign_in)


@require_POST
def signout(request):
    session = browser.session_from_request(request)
    if session is not None:
        services.session_revoke(session=session, reason="logout")
    response = redirect("/signin")
    browser.session_cookie_clear(response)
    return harden(response)
