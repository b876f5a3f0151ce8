from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme


class SessionJWTScheme(SimpleJWTScheme):
    target_class = "accounts.authentication.SessionJWTAuthentication"
    name = "jwtAuth"


class BrowserSessionScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.authentication.BrowserSessionAuthentication"
    name = "browserSession"

    def get_security_definition(self, auto_schema):
        from .browser import COOKIE

        return {"type": "apiKey", "in": "cookie", "name": COOKIE,
                "description": "The web drive's sign-in cookie; unsafe methods also need `X-CSRFToken`."}
