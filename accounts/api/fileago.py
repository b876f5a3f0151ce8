"""FileAgo sign-in: `POST /auth`."""

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle

from storage_site.core.api import FileAgoView, LenientJSONParser, client_ip, user_agent
from storage_site.core.parsers import JSONParser, MultiPartParser

from .. import services
from ..models import Client
from .serializers import FileAgoAuthSerializer

DEFAULT_AVATAR = "/images/default_avatar.png"

FILEAGO_ERROR = inline_serializer("FileAgoError", fields={"status": serializers.CharField(), "msg": serializers.CharField()})


class AuthView(FileAgoView):
    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "password_login"
    # FileAgo's own curl example posts JSON without a JSON content type.
    parser_classes = [JSONParser, LenientJSONParser, MultiPartParser]

    @extend_schema(
        tags=["fileago"], request=FileAgoAuthSerializer, summary="Sign in (FileAgo)",
        description="`username` is an e-mail address, or `admin`. The token is valid 24 hours; "
                    "`fileaccesskey` authorises downloads while this sign-in's session lives (logout or a revoke "
                    "ends it; every sign-in gets a new one). JSON is accepted with any form content type.",
        responses={200: inline_serializer("FileAgoAuth", fields={
            "uuid": serializers.UUIDField(), "token": serializers.CharField(), "status": serializers.CharField(),
            "msg": serializers.CharField(), "is_admin": serializers.BooleanField(),
            "fullname": serializers.CharField(), "fileaccesskey": serializers.CharField(),
            "avatar": serializers.CharField()}), 400: FILEAGO_ERROR, 401: FILEAGO_ERROR, 429: FILEAGO_ERROR},
    )
    def post(self, request):
        payload = FileAgoAuthSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        sign_in = services.password_sign_in(
            identifier=payload.validated_data["username"], password=payload.validated_data["password"],
            client=Client.FILEAGO, ip_address=client_ip(request), user_agent=user_agent(request))
        user = sign_in.user
        return Response({
            "uuid": str(user.uuid),
            "token": sign_in.access,
            "status": "success",
            "msg": "Login successful.",
            "is_admin": user.is_admin,
            "fullname": user.display_name,
            "fileaccesskey": sign_in.fileaccesskey,
            "avatar": user.avatar.url if user.avatar else DEFAULT_AVATAR,
        })
