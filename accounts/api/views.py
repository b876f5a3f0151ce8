"""LayoodStorage sign-in: WhatsApp OTP, sessions, logout."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.throttling import ScopedRateThrottle

from storage_site.core.api import PRIMARY_ERRORS, MessageSerializer, PrimaryView, client_ip, envelope, ok, user_agent

from .. import selectors, services
from .serializers import (
    AppPasswordCreatedSerializer,
    AppPasswordCreateSerializer,
    AppPasswordSerializer,
    PhoneSerializer,
    RefreshSerializer,
    SessionSerializer,
    SignInSerializer,
    UserSerializer,
    VerifyOtpSerializer,
    sign_in_data,
)

OTP_SENT = envelope("OtpSent", serializers.DictField())
SIGN_IN = envelope("SignInResponse", SignInSerializer())


class _AnonymousSignInView(PrimaryView):
    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = [ScopedRateThrottle]


class OtpRequestView(_AnonymousSignInView):
    throttle_scope = "otp_request"
    message = "OTP sent via WhatsApp"

    @extend_schema(
        tags=["auth"], request=PhoneSerializer, responses={200: OTP_SENT, **PRIMARY_ERRORS},
        summary="Send a sign-in code over WhatsApp",
        description=(
            "Sends a 6-digit code to the phone on WhatsApp; valid 5 minutes, single use. The answer is the "
            "same whether or not an account has this phone (the first verified sign-in creates a client "
            "account). One code per 30 s and 6 an hour per phone (429 with `Retry-After`)."
        ),
    )
    def post(self, request):
        payload = PhoneSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        phone = services.phone_normalize(payload.validated_data["phone"])
        services.otp_request(phone=phone)
        return ok({"phone": phone, "expiresIn": 300}, message=self.message)


class OtpResendView(OtpRequestView):
    message = "OTP resent via WhatsApp"

    @extend_schema(tags=["auth"], request=PhoneSerializer, responses={200: OTP_SENT, **PRIMARY_ERRORS},
                   summary="Send a new code", description="As `/api/login`; the earlier code stops working.")
    def post(self, request):
        return super().post(request)


class OtpVerifyView(_AnonymousSignInView):
    throttle_scope = "otp_verify"

    @extend_schema(
        tags=["auth"], request=VerifyOtpSerializer, responses={200: SIGN_IN, **PRIMARY_ERRORS},
        summary="Exchange the code for tokens",
        description=(
            "Returns the access token (`token`, 24 h), a `refreshToken` and the user with its role. "
            "Wrong code: 400 `INVALID_OTP`; 5 wrong codes lock the code, 100 failures an hour lock the "
            "phone (429 `TOO_MANY_ATTEMPTS`); a deactivated account: 404 `USER_INACTIVE`."
        ),
    )
    def post(self, request):
        payload = VerifyOtpSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        phone = services.phone_normalize(payload.validated_data["phone"])
        sign_in = services.otp_verify(phone=phone, code=payload.validated_data["otp"],
                                      ip_address=client_ip(request), user_agent=user_agent(request))
        return ok(sign_in_data(sign_in), message="Login successful")


class TokenRefreshView(_AnonymousSignInView):
    throttle_scope = "token_refresh"

    @extend_schema(
        tags=["auth"], request=RefreshSerializer, responses={200: SIGN_IN, **PRIMARY_ERRORS},
        summary="Rotate the refresh token",
        description="Returns a new token pair. Each refresh token works once; reusing one ends its session.",
    )
    def post(self, request):
        payload = RefreshSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        sign_in = services.session_refresh(refresh_token=payload.validated_data["refreshToken"])
        return ok(sign_in_data(sign_in))


class SessionCheckView(PrimaryView):
    @extend_schema(
        tags=["auth"], request=None, summary="Validate the current session",
        responses={200: envelope("SessionCheck", serializers.DictField()), **PRIMARY_ERRORS},
        description="200 with the user and session while the token is good; 401 `NO_TOKEN`/`INVALID_TOKEN` else.",
    )
    def get(self, request):
        return ok({
            "valid": True,
            "user": UserSerializer(request.user).data,
            "session": SessionSerializer(request.user.auth_session).data,
        })


class SessionExtendView(PrimaryView):
    @extend_schema(
        tags=["auth"], request=None, summary="Extend the session",
        responses={200: envelope("SessionExtended", serializers.DictField()), **PRIMARY_ERRORS},
        description="Pushes the session's expiry out by the session lifetime and returns a fresh access "
                    "token; the refresh token is unchanged.",
    )
    def post(self, request):
        extended = services.session_extend(session=request.user.auth_session)
        return ok({
            "token": extended.access,
            "expiresIn": extended.expires_in,
            "session": SessionSerializer(extended.session).data,
        }, message="Session extended")


class LogoutView(PrimaryView):
    @extend_schema(tags=["auth"], request=None, responses={200: MessageSerializer, **PRIMARY_ERRORS},
                   summary="End the session", description="The session's access and refresh tokens stop working at once.")
    def post(self, request):
        services.session_revoke(session=request.user.auth_session, reason="logout")
        return ok(message="Logged out")


# --- app passwords -------------------------------------------------------------------

APP_PASSWORDS = envelope("AppPasswordListResponse", AppPasswordSerializer(many=True))
APP_PASSWORD_CREATED = envelope("AppPasswordCreatedResponse", AppPasswordCreatedSerializer())


class AppPasswordListView(PrimaryView):
    @extend_schema(tags=["app-passwords"], summary="List app passwords", responses={200: APP_PASSWORDS,
                                                                                     **PRIMARY_ERRORS},
                   description="The caller's app passwords (for WebDAV at `/dav/` and other HTTP Basic clients), "
                               "newest first; secrets are never shown again.")
    def get(self, request):
        return ok(AppPasswordSerializer(selectors.app_passwords_for(request.user), many=True).data)

    @extend_schema(tags=["app-passwords"], summary="Create an app password", request=AppPasswordCreateSerializer,
                   responses={201: APP_PASSWORD_CREATED, **PRIMARY_ERRORS},
                   description="A new password for one device or program. The answer holds the secret: it is "
                               "shown once and stored only hashed.")
    def post(self, request):
        serializer = AppPasswordCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        app_password, secret = services.app_password_create(user=request.user, name=serializer.validated_data["name"])
        app_password.password, app_password.login = secret, request.user.username
        return ok(AppPasswordCreatedSerializer(app_password).data, message="App password created", status=201)


class AppPasswordDetailView(PrimaryView):
    @extend_schema(tags=["app-passwords"], summary="Revoke an app password", request=None,
                   responses={200: MessageSerializer, **PRIMARY_ERRORS},
                   description="The password stops working at once; another user's id is 404.")
    def delete(self, request, app_password_id):
        services.app_password_revoke(app_password=selectors.app_password_get(user=request.user,
                                                                            app_password_id=app_password_id))
        return ok(message="App password revoked")
