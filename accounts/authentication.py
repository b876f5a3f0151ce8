"""JWT authentication bound to a server-side session.

SimpleJWT checks the signature, expiry and token type (an access token only;
`alg: none` and foreign keys are refused by PyJWT). On top of that the token must
name a live session, so logout or an admin's revoke ends its tokens at once, and
a deactivated user's tokens stop working (a known SimpleJWT pitfall).
"""

from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import InvalidToken

from storage_site.core.exceptions import UserInactive

from . import services
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
