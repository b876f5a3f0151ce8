"""StreamVault v5 accounts: register, login, me, on SimpleJWT tokens."""

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle

from storage_site.core.api import StreamVaultView, client_ip, user_agent

from .. import services
from ..models import Client
from .serializers import SVLoginSerializer, SVRefreshSerializer, SVRegisterSerializer, SVUserSerializer

SV_TOKENS = inline_serializer("SVTokens", fields={
    "access": serializers.CharField(), "refresh": serializers.CharField(), "message": serializers.CharField(),
})
SV_ERROR = inline_serializer("SVError", fields={
    "message": serializers.CharField(), "code": serializers.CharField(), "errors": serializers.DictField(required=False),
})


class _Anonymous(StreamVaultView):
    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = [ScopedRateThrottle]


class RegisterView(_Anonymous):
    throttle_scope = "register"

    @extend_schema(tags=["streamvault"], request=SVRegisterSerializer, summary="Register a user",
                   responses={201: inline_serializer("SVRegistered", fields={
                       "id": serializers.IntegerField(), "email": serializers.EmailField(),
                       "username": serializers.CharField(), "message": serializers.CharField()}),
                       400: SV_ERROR, 429: SV_ERROR})
    def post(self, request):
        payload = SVRegisterSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        user = services.user_register(**payload.validated_data)
        return Response({"id": user.pk, "email": user.email, "username": user.username,
                         "message": "User registered successfully"}, status=201)


class LoginView(_Anonymous):
    throttle_scope = "password_login"

    @extend_schema(tags=["streamvault"], request=SVLoginSerializer, summary="Sign in",
                   responses={200: SV_TOKENS, 400: SV_ERROR, 401: SV_ERROR, 429: SV_ERROR})
    def post(self, request):
        payload = SVLoginSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        sign_in = services.password_sign_in(
            identifier=payload.validated_data["email"], password=payload.validated_data["password"],
            client=Client.STREAMVAULT, ip_address=client_ip(request), user_agent=user_agent(request))
        return Response({"access": sign_in.access, "refresh": sign_in.refresh, "message": "Login successful"})


class RefreshView(_Anonymous):
    throttle_scope = "token_refresh"

    @extend_schema(tags=["streamvault"], request=SVRefreshSerializer, summary="Rotate the refresh token",
                   description="SimpleJWT-style refresh. Each refresh token works once; reuse ends the session.",
                   responses={200: SV_TOKENS, 401: SV_ERROR})
    def post(self, request):
        payload = SVRefreshSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        sign_in = services.session_refresh(refresh_token=payload.validated_data["refresh"])
        return Response({"access": sign_in.access, "refresh": sign_in.refresh, "message": "Token refreshed"})


class MeView(StreamVaultView):
    @extend_schema(tags=["streamvault"], summary="The signed-in user", responses={200: SVUserSerializer, 401: SV_ERROR})
    def get(self, request):
        return Response(SVUserSerializer(request.user).data)
