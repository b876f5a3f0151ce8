"""What every page of the web app shares: its security headers, the signed-in user,
and domain errors shown as words instead of JSON."""

from functools import wraps
from urllib.parse import urlencode

from django.shortcuts import redirect, render

from accounts import browser

# Pages load only their own files: no inline script or style, nothing from elsewhere.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
       "media-src 'self'; connect-src 'self'; frame-src 'self'; object-src 'none'; base-uri 'none'; "
       "form-action 'self'; frame-ancestors 'none'")


def harden(response):
    response.setdefault("Content-Security-Policy", CSP)
    response["X-Content-Type-Options"] = "nosniff"
    # A share token in the address never reaches another site in a Referer. ("no-referrer"
    # would also make the browser send `Origin: null` on our own forms, failing CSRF.)
    response["Referrer-Policy"] = "same-origin"
    response["X-Frame-Options"] = "DENY"
    response.setdefault("Cache-Control", "private, no-store")
    return response


def page(view):
    """A page anyone may open."""
    @wraps(view)
    def wrapped(request, *args, **kwargs):
        return harden(view(request, *args, **kwargs))
    return wrapped


def signed_in(view):
    """A page of the drive: the browser's session, or the sign-in page."""
    @wraps(view)
    def wrapped(request, *args, **kwargs):
        session = browser.session_from_request(request)
        if session is None:
            return harden(redirect("/signin?" + urlencode({"next": request.get_full_path()})))
        request.user = session.user
        request.auth_session = session
        return harden(view(request, *args, **kwargs))
    return wrapped


def error_page(request, *, status: int, title: str, message: str):
    return render(request, "web/error.html", {"title": title, "message": message}, status=status)
