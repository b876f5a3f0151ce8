"""The browser's sign-in: a cookie naming a server-side session (`AuthSession`).

A browser signs in through the same services as the API (`otp_verify`,
`password_sign_in`), so its session is listed and revocable in the admin like any
other; the cookie carries only the session's id, signed, HttpOnly and SameSite=Lax
(Secure behind HTTPS). Revoking the session, or deactivating the user, ends it at once.
"""

from django.conf import settings

from . import services
from .models import AuthSession

COOKIE = "stratus_session"
SALT = "accounts.browser-session"


def session_cookie_set(request, response, *, session: AuthSession) -> None:
    response.set_signed_cookie(
        COOKIE, str(session.uuid), salt=SALT, max_age=int(settings.SESSION_LIFETIME.total_seconds()),
        httponly=True, samesite="Lax", secure=request.is_secure() or settings.SESSION_COOKIE_SECURE)


def session_cookie_clear(response) -> None:
    response.delete_cookie(COOKIE, samesite="Lax")


def session_from_request(request) -> AuthSession | None:
    """The live session the request's cookie names, with its active user; else None."""
    session_id = request.get_signed_cookie(COOKIE, default=None, salt=SALT,
                                           max_age=int(settings.SESSION_LIFETIME.total_seconds()))
    if not session_id:
        return None
    session = AuthSession.objects.select_related("user").filter(uuid=session_id).first()
    if session is None or not session.is_live or not session.user.is_active:
        return None
    services.session_touch(session=session)
    session.user.auth_session = session
    return session
