"""JWT authentication bound to a server-side session.

SimpleJWT checks the signature, expiry and token type (an access token only;
`alg: none` and foreign keys are refused by PyJWT). On top of that the token must
name a live session, so logout or an admin's revoke ends its tokens at once, and
a deactivated user's tokens stop working (a known SimpleJWT pitfall).
"""

from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, CSRFCheck
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import InvalidToken

from storage_site.core.exceptions import UserInactive

from . import browser, services
from .models import AuthSession


class SessionJWTAuthentication(JWTAuthentication):
    def get_user(self, validated_token):
        session_id = validated_token.get("sid")
        session = AuthSession.objects.select_related("user").filter(uuid=session_id).first() if session_id else None
        if session is None or not session.is_live or str(session.user.uuid) != validated_token.get("user_id"):
            raise InvalidToken("Session ended or unknown.")
        user = session.user
        if not user.is_active:
            raise UserInactive()
        services.session_touch(session=session)
        user.auth_session = session
        return user


class BrowserSessionAuthentication(BaseAuthentication):
    """The web drive's cookie (accounts/browser.py), for the API doors its pages call
    from JavaScript (tus uploads). Like DRF's SessionAuthentication, every unsafe
    request must carry the CSRF token, so another site cannot ride the cookie."""

    def authenticate(self, request):
        session = browser.session_from_request(request._request)
        if session is None:
            return None
        self._enforce_csrf(request)
        return session.user, None

    def _enforce_csrf(self, request):
        def dummy_get_response(request):  # pragma: no cover - never called
            return None

        check = CSRFCheck(dummy_get_response)
        check.process_request(request._request)
        reason = check.process_view(request._request, None, (), {})
        if reason:
            raise exceptions.PermissionDenied(f"CSRF failed: {reason}")
