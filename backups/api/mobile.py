"""MegaVault mobile API: device sign-in and refresh, device management
and push registration. Sign-in answers keep MegaVault's top-level shape
(`user`, `tokens`, `device`, `syncData`); the rest use `{"success": true, "data": ...}`.
Errors are the primary envelope."""

from django.db.models import Max
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle

from files.models import UploadSession, UploadSource, UploadStatus
from storage_site.core.api import (
    PRIMARY_ERRORS,
    ErrorEnvelopeSerializer,
    MessageSerializer,
    PrimaryView,
    client_ip,
    envelope,
    ok,
    user_agent,
)

from .. import selectors
from ..models import BackupStatus
from ..services import devices as device_services
from ..services import notifications
from .serializers import (
    DeviceInfoSerializer,
    DeviceSerializer,
    DeviceSettingsSerializer,
    PushRegisterSerializer,
    PushRegistrationSerializer,
    current_device_id,
)

ERRORS = {**PRIMARY_ERRORS, 403: ErrorEnvelopeSerializer}
DEVICE_ID = OpenApiParameter("device_id", OpenApiTypes.STR, OpenApiParameter.PATH,
                             description="The device's `id` (UUID), or the app's own deviceId.")


def expires_in_text(seconds: int) -> str:
    """MegaVault writes lifetimes as `7d`, `12h`, `30m`."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _tokens(sign_in) -> dict:
    return {"accessToken": sign_in.access, "refreshToken": sign_in.refresh,
            "expiresIn": expires_in_text(sign_in.expires_in), "expiresInSeconds": sign_in.expires_in}


class MobileRegisterSerializer(serializers.Serializer):
    email = serializers.EmailField()
    password = serializers.CharField(max_length=128, write_only=True, trim_whitespace=False)
    name = serializers.CharField(max_length=200, required=False, allow_blank=True, default="",
                                 help_text="Full name for a new account.")
    deviceInfo = DeviceInfoSerializer()


class MobileRefreshSerializer(serializers.Serializer):
    refreshToken = serializers.CharField()
    deviceId = serializers.CharField(max_length=200)


class _TokensSerializer(serializers.Serializer):
    accessToken = serializers.CharField()
    refreshToken = serializers.CharField(help_text="Rotates on every refresh; bound to this device.")
    expiresIn = serializers.CharField(help_text="Access token lifetime, e.g. `7d`.")
    expiresInSeconds = serializers.IntegerField()


REGISTERED = inline_serializer("MVAuthRegistered", fields={
    "success": serializers.BooleanField(),
    "user": inline_serializer("MVUser", fields={"id": serializers.UUIDField(), "email": serializers.EmailField(),
                                                "name": serializers.CharField()}),
    "tokens": _TokensSerializer(),
    "device": inline_serializer("MVDeviceBrief", fields={
        "id": serializers.UUIDField(), "name": serializers.CharField(), "registeredAt": serializers.DateTimeField(),
        "isNew": serializers.BooleanField()}),
    "syncData": inline_serializer("MVSyncData", fields={
        "lastSyncAt": serializers.DateTimeField(allow_null=True), "pendingUploads": serializers.IntegerField(),
        "cacheSize": serializers.IntegerField()}),
})
REFRESHED = inline_serializer("MVAuthRefreshed", fields={"success": serializers.BooleanField(),
                                                         "tokens": _TokensSerializer()})


class _Anonymous(PrimaryView):
    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = [ScopedRateThrottle]


class MobileRegisterView(_Anonymous):
    throttle_scope = "password_login"

    @extend_schema(
        tags=["megavault"], request=MobileRegisterSerializer,
        responses={200: REGISTERED, 400: ErrorEnvelopeSerializer, 401: ErrorEnvelopeSerializer,
                   403: ErrorEnvelopeSerializer, 429: ErrorEnvelopeSerializer},
        summary="Sign in from a phone and register it",
        description=(
            "A new e-mail creates an account; an existing one signs in with its password (401 "
            "`INVALID_CREDENTIALS` when wrong). The device (`deviceInfo.deviceId`) is registered, or updated if "
            "already registered, and the session is bound to it: its refresh token only works with this "
            "`deviceId`. A new device over the plan's device limit is 403 `DEVICE_LIMIT_REACHED` and nothing is "
            "created. A new device sends a security push to the user's other devices. `pushToken` registers "
            "push with every category on. Access tokens last `MOBILE_ACCESS_TOKEN_DAYS` (7 days); they end at "
            "once when the device is removed."),
    )
    def post(self, request):
        payload = MobileRegisterSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        info = data["deviceInfo"]
        result = device_services.mobile_register(
            email=data["email"], password=data["password"], name=data["name"],
            info=DeviceInfoSerializer.device_info(info),
            ip_address=client_ip(request), user_agent=user_agent(request))
        device, user = result.device, result.sign_in.user
        notifications.device_push_token_record(device=device, token=info["pushToken"], platform=info["platform"])
        last_backup = device.backup_sessions.filter(status=BackupStatus.COMPLETED).aggregate(
            last=Max("completed_at"))["last"]
        pending = UploadSession.objects.filter(
            owner=user, status=UploadStatus.UPLOADING,
            source__in=[UploadSource.MEGAVAULT, UploadSource.BACKUP, UploadSource.SYNC]).count()
        return Response({
            "success": True,
            "user": {"id": str(user.uuid), "email": user.email, "name": user.display_name},
            "tokens": _tokens(result.sign_in),
            "device": {"id": str(device.uuid), "name": device.name,
                       "registeredAt": serializers.DateTimeField().to_representation(device.registered_at),
                       "isNew": result.new_device},
            "syncData": {"lastSyncAt": serializers.DateTimeField().to_representation(last_backup)
                         if last_backup else None, "pendingUploads": pending, "cacheSize": 0},
        })


class MobileRefreshView(_Anonymous):
    throttle_scope = "token_refresh"

    @extend_schema(
        tags=["megavault"], request=MobileRefreshSerializer,
        responses={200: REFRESHED, 400: ErrorEnvelopeSerializer, 401: ErrorEnvelopeSerializer,
                   429: ErrorEnvelopeSerializer},
        summary="Rotate a phone's refresh token",
        description=(
            "The refresh token works only with the `deviceId` it was issued to: another id is 401 "
            "`INVALID_TOKEN` and nothing changes (the token is not used up). Each refresh token works once; "
            "reusing one ends the session."),
    )
    def post(self, request):
        payload = MobileRefreshSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        sign_in, _device = device_services.mobile_refresh(refresh_token=payload.validated_data["refreshToken"],
                                                          device_id=payload.validated_data["deviceId"])
        return Response({"success": True, "tokens": _tokens(sign_in)})


DEVICES = envelope("MVDeviceList", inline_serializer("MVDevices", fields={
    "devices": DeviceSerializer(many=True), "currentDevice": serializers.UUIDField(allow_null=True)}))
DEVICE = envelope("MVDevice", DeviceSerializer())


def render_device(request, device) -> dict:
    """A device as both dialects show it, re-read with its activity figures."""
    device = selectors.devices_for(request.user).get(pk=device.pk)
    return DeviceSerializer(device, context={"current_device_id": current_device_id(request)}).data


def device_settings_put(request, device_id):
    """`PUT .../devices/<id>/settings` of both dialects: only the fields sent change."""
    device = device_services.device_get(user=request.user, device_id=device_id)
    payload = DeviceSettingsSerializer(data=request.data)
    payload.is_valid(raise_exception=True)
    return ok(render_device(request, device_services.device_settings_update(device=device,
                                                                           changes=payload.validated_data)))


class DeviceListView(PrimaryView):
    @extend_schema(tags=["megavault"], operation_id="mobile_devices_list", responses={200: DEVICES, **ERRORS},
                   summary="List my devices",
                   description="Live devices, newest first. `isCurrent` marks the device this session signed in "
                               "from (`currentDevice` its id; null for a session without a device). "
                               "`lastActiveAt` is the device's newest request.")
    def get(self, request):
        current = current_device_id(request)
        devices = list(selectors.devices_for(request.user))
        context = {"current_device_id": current}
        return ok({"devices": DeviceSerializer(devices, many=True, context=context).data,
                   "currentDevice": next((str(d.uuid) for d in devices if current and d.device_id == current),
                                         None)})


class DeviceSettingsView(PrimaryView):
    @extend_schema(tags=["megavault"], parameters=[DEVICE_ID], request=DeviceSettingsSerializer,
                   responses={200: DEVICE, **ERRORS}, summary="Update a device's settings",
                   description="Only the fields sent change. Another user's device is 404 `DEVICE_NOT_FOUND`.")
    def put(self, request, device_id):
        return device_settings_put(request, device_id)


class DeviceDetailView(PrimaryView):
    @extend_schema(tags=["megavault"], parameters=[DEVICE_ID], responses={200: DEVICE, **ERRORS},
                   summary="One of my devices")
    def get(self, request, device_id):
        return ok(render_device(request, device_services.device_get(user=request.user, device_id=device_id)))

    @extend_schema(tags=["megavault"], parameters=[DEVICE_ID], request=None,
                   responses={200: MessageSerializer, **ERRORS}, summary="Remove a device",
                   description="The device stops counting against the limit; every session it signed in with "
                               "ends at once (its tokens answer 401), pushes to it stop and a running backup is "
                               "interrupted. Its backups and history stay.")
    def delete(self, request, device_id):
        device = device_services.device_get(user=request.user, device_id=device_id)
        device_services.device_remove(device=device)
        return ok(message="Device removed")


class PushRegisterView(PrimaryView):
    @extend_schema(
        tags=["megavault"], request=PushRegisterSerializer,
        responses={200: envelope("MVPushRegistered", PushRegistrationSerializer()), **ERRORS},
        summary="Register for push notifications",
        description=(
            "One registration per device (sending again replaces it). Categories `uploads`, `shares`, "
            "`storage`, `security` (each on unless false). `quietHours` (`start`/`end` as HH:MM in the IANA "
            "`timezone`, may span midnight) hold back everything but security until they end. `deviceId` "
            "defaults to the device this session signed in from; an unknown one is 404 `DEVICE_NOT_FOUND`."),
    )
    def post(self, request):
        payload = PushRegisterSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        device = device_services.device_get(user=request.user,
                                            device_id=data.get("deviceId") or current_device_id(request))
        preferences = data.get("preferences") or {}
        registration = notifications.push_register(
            device=device, token=data["pushToken"], platform=data["platform"], preferences=preferences,
            quiet_hours=preferences.get("quietHours"))
        return ok(PushRegistrationSerializer(registration).data)
