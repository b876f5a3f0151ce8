from rest_framework import serializers

from storage_site.core.fields import INT32_MAX, IntegerField

from ..models import BackupFile, ContactFormat, ContactSnapshot, Platform, UploadQuality
from ..selectors import device_last_active
from ..services.devices import DeviceInfo

MAX_SYNC_FOLDERS = 100


# --- devices -------------------------------------------------------------------------

class DeviceInfoSerializer(serializers.Serializer):
    deviceId = serializers.CharField(max_length=200, help_text="The app's own stable id of this device.")
    platform = serializers.ChoiceField(Platform.choices, default=Platform.OTHER)
    model = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    osVersion = serializers.CharField(max_length=50, required=False, allow_blank=True, default="")
    appVersion = serializers.CharField(max_length=50, required=False, allow_blank=True, default="")
    name = serializers.CharField(max_length=100, required=False, allow_blank=True, default="",
                                 help_text="Shown in device lists; default e.g. \"John's Pixel 7\".")
    pushToken = serializers.CharField(max_length=4096, required=False, allow_blank=True, default="",
                                      help_text="FCM/APNs token; registers push with default preferences.")

    @staticmethod
    def device_info(data) -> DeviceInfo:
        """The validated payload as the device services take it (the push token is registered apart)."""
        return DeviceInfo(device_id=data["deviceId"], platform=data["platform"], model=data["model"],
                          os_version=data["osVersion"], app_version=data["appVersion"], name=data["name"])


class DeviceSettingsSerializer(serializers.Serializer):
    """Every field optional: only those sent change."""

    autoUpload = serializers.BooleanField(required=False)
    backgroundSync = serializers.BooleanField(required=False)
    wifiOnly = serializers.BooleanField(required=False)
    uploadQuality = serializers.ChoiceField(UploadQuality.choices, required=False)
    syncFolders = serializers.ListField(child=serializers.CharField(max_length=1024), required=False,
                                        max_length=MAX_SYNC_FOLDERS)
    maxCacheSize = IntegerField(required=False, allow_null=True, min_value=0)
    backupEnabled = serializers.BooleanField(required=False, help_text="Off: backup sessions answer 403 "
                                                                      "BACKUP_DISABLED.")
    name = serializers.CharField(max_length=100, required=False)


class DeviceSettingsOutSerializer(serializers.Serializer):
    autoUpload = serializers.BooleanField(source="auto_upload")
    backgroundSync = serializers.BooleanField(source="background_sync")
    wifiOnly = serializers.BooleanField(source="wifi_only")
    uploadQuality = serializers.CharField(source="upload_quality")
    syncFolders = serializers.ListField(child=serializers.CharField(), source="sync_folders")
    maxCacheSize = serializers.IntegerField(source="max_cache_size", allow_null=True)
    backupEnabled = serializers.BooleanField(source="backup_enabled")


class DeviceSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="uuid")
    deviceId = serializers.CharField(source="device_id", help_text="The app's own id of the device.")
    name = serializers.CharField()
    platform = serializers.CharField()
    model = serializers.CharField()
    osVersion = serializers.CharField(source="os_version")
    appVersion = serializers.CharField(source="app_version")
    registeredAt = serializers.DateTimeField(source="registered_at")
    lastActiveAt = serializers.SerializerMethodField()
    isCurrent = serializers.SerializerMethodField()
    settings = serializers.SerializerMethodField()
    pushEnabled = serializers.SerializerMethodField()

    def get_lastActiveAt(self, device) -> str | None:
        value = device_last_active(device)
        return serializers.DateTimeField().to_representation(value) if value else None

    def get_isCurrent(self, device) -> bool:
        current = self.context.get("current_device_id")
        return bool(current) and device.device_id == current

    def get_settings(self, device) -> DeviceSettingsOutSerializer:
        return DeviceSettingsOutSerializer(device).data

    def get_pushEnabled(self, device) -> bool:
        push = getattr(device, "push", None)  # a missing one-to-one raises an AttributeError
        return push is not None and push.invalid_at is None


def current_device_id(request) -> str:
    session = getattr(request.user, "auth_session", None)
    return session.device_id if session is not None else ""


# --- backup ----------------------------------------------------------------------------

class BackupStartSerializer(serializers.Serializer):
    deviceId = serializers.CharField(max_length=200, help_text="The device's `id` (or the app's deviceId).")
    expectedFiles = IntegerField(max_value=INT32_MAX, required=False, min_value=0, allow_null=True)
    expectedBytes = IntegerField(required=False, min_value=0, allow_null=True)


class BackupSessionSerializer(serializers.Serializer):
    sessionId = serializers.UUIDField(source="uuid")
    deviceId = serializers.UUIDField(source="device.uuid")
    status = serializers.CharField()
    expectedFiles = serializers.IntegerField(source="expected_files", allow_null=True)
    expectedBytes = serializers.IntegerField(source="expected_bytes", allow_null=True)
    startedAt = serializers.DateTimeField(source="started_at")
    completedAt = serializers.DateTimeField(source="completed_at", allow_null=True)


class _FileFields(serializers.Serializer):
    sessionId = serializers.CharField(required=False, help_text="The backup session (may be in the query).")
    name = serializers.CharField(max_length=1024, required=False, trim_whitespace=False,
                                 help_text="Default: the uploaded file's name.")
    folder = serializers.CharField(max_length=1024, required=False, allow_blank=True, default="",
                                   help_text="Path under the device's backup folder, e.g. `DCIM/Camera`.")
    assetId = serializers.CharField(max_length=255, required=False, allow_blank=True, default="",
                                    help_text="The device's id of the photo or file (for `/api/backup/check`).")
    checksum = serializers.RegexField(r"^(sha256:)?[0-9a-fA-F]{64}$", required=False, allow_blank=True, default="",
                                      help_text="SHA-256, hex (optionally `sha256:`-prefixed).")
    mimeType = serializers.CharField(max_length=255, required=False, allow_blank=True, default="")
    capturedAt = serializers.DateTimeField(required=False)
    location = serializers.CharField(max_length=200, required=False, allow_blank=True)


class BackupUploadFormSerializer(_FileFields):
    file = serializers.FileField(required=False, help_text="The bytes (up to UPLOAD_MAX_SIZE). Omit it for a "
                                                           "big file: the answer says where to send chunks.")
    size = IntegerField(required=False, min_value=0, help_text="Bytes; needed without `file`.")


class BackupUploadJsonSerializer(_FileFields):
    name = serializers.CharField(max_length=1024, trim_whitespace=False)
    size = IntegerField(min_value=0)
    checksum = serializers.RegexField(r"^(sha256:)?[0-9a-fA-F]{64}$")


class BackupFileSerializer(serializers.ModelSerializer):
    id = serializers.IntegerField(source="pk")
    assetId = serializers.CharField(source="asset_id")
    sha256 = serializers.CharField()
    reasonCode = serializers.CharField(source="reason_code")
    fileId = serializers.SerializerMethodField()
    createdAt = serializers.DateTimeField(source="created_at")
    finishedAt = serializers.DateTimeField(source="finished_at")

    class Meta:
        model = BackupFile
        fields = ["id", "name", "folder", "assetId", "size", "sha256", "outcome", "reasonCode", "reason",
                  "superseded", "fileId", "createdAt", "finishedAt"]

    def get_fileId(self, row) -> str | None:
        return str(row.node.uuid) if row.node_id and row.node else None


class BackupCompleteSerializer(serializers.Serializer):
    sessionId = serializers.CharField()


class CheckItemSerializer(serializers.Serializer):
    checksum = serializers.RegexField(r"^(sha256:)?[0-9a-fA-F]{64}$", required=False, allow_blank=True)
    assetId = serializers.CharField(max_length=255, required=False, allow_blank=True)

    def validate(self, attrs):
        attrs["checksum"] = attrs.get("checksum", "").lower().removeprefix("sha256:")
        if not attrs["checksum"] and not attrs.get("assetId"):
            raise serializers.ValidationError("Each item needs a `checksum` or an `assetId`.")
        return attrs


class BackupCheckSerializer(serializers.Serializer):
    deviceId = serializers.CharField(max_length=200, required=False, allow_blank=True,
                                     help_text="Needed to match `assetId`s (assets are per device).")
    items = CheckItemSerializer(many=True, min_length=1)

    def validate_items(self, items):
        from django.conf import settings

        if len(items) > settings.BACKUP_CHECK_MAX_ITEMS:
            raise serializers.ValidationError(f"At most {settings.BACKUP_CHECK_MAX_ITEMS} items per request.")
        return items


# --- contacts ---------------------------------------------------------------------------

class ContactsJsonSerializer(serializers.Serializer):
    deviceId = serializers.CharField(max_length=200)
    format = serializers.ChoiceField(ContactFormat.choices, default=ContactFormat.JSON)
    contacts = serializers.ListField(child=serializers.DictField(), required=False,
                                     help_text="With format `json`: the contacts, each an object.")
    vcard = serializers.CharField(required=False, trim_whitespace=False,
                                  help_text="With format `vcard`: the vCard text (one or more cards).")

    def validate(self, attrs):
        if attrs["format"] == "json" and "contacts" not in attrs:
            raise serializers.ValidationError({"contacts": ["Send the contacts (a list) with format `json`."]})
        if attrs["format"] == "vcard" and not attrs.get("vcard"):
            raise serializers.ValidationError({"vcard": ["Send the vCard text with format `vcard`."]})
        return attrs


class ContactsFormSerializer(serializers.Serializer):
    deviceId = serializers.CharField(max_length=200)
    format = serializers.ChoiceField(ContactFormat.choices, required=False,
                                     help_text="Default: from the file name (`.vcf` → vcard, else json).")
    file = serializers.FileField()


class ContactSnapshotSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="uuid")
    deviceId = serializers.UUIDField(source="device.uuid")
    deviceName = serializers.CharField(source="device.name")
    contactCount = serializers.IntegerField(source="contact_count")
    createdAt = serializers.DateTimeField(source="created_at")
    fileId = serializers.SerializerMethodField()

    class Meta:
        model = ContactSnapshot
        fields = ["id", "deviceId", "deviceName", "format", "contactCount", "size", "sha256", "version", "fileId",
                  "createdAt"]

    def get_fileId(self, snapshot) -> str | None:
        return str(snapshot.node.uuid) if snapshot.node_id and snapshot.node else None


# --- push --------------------------------------------------------------------------------

class QuietHoursSerializer(serializers.Serializer):
    enabled = serializers.BooleanField(default=False)
    start = serializers.TimeField(required=False, allow_null=True, format="%H:%M", input_formats=["%H:%M"])
    end = serializers.TimeField(required=False, allow_null=True, format="%H:%M", input_formats=["%H:%M"])
    timezone = serializers.CharField(max_length=64, default="UTC", help_text="IANA name, e.g. America/Los_Angeles.")

    def validate_timezone(self, value):
        from ..services.notifications import zone_get

        try:
            zone_get(value)
        except Exception:
            raise serializers.ValidationError(f"'{value}' is not an IANA time zone.") from None
        return value

    def validate(self, attrs):
        if attrs.get("enabled") and (attrs.get("start") is None or attrs.get("end") is None):
            raise serializers.ValidationError("Quiet hours need `start` and `end` (HH:MM).")
        if attrs.get("enabled") and attrs["start"] == attrs["end"]:
            raise serializers.ValidationError("Quiet hours must not start and end at the same time.")
        return attrs


class PreferencesSerializer(serializers.Serializer):
    uploads = serializers.BooleanField(default=True)
    shares = serializers.BooleanField(default=True)
    storage = serializers.BooleanField(default=True)
    security = serializers.BooleanField(default=True)
    quietHours = QuietHoursSerializer(required=False)


class PushRegisterSerializer(serializers.Serializer):
    deviceId = serializers.CharField(max_length=200, required=False,
                                     help_text="Default: the device this session signed in from.")
    pushToken = serializers.CharField(max_length=4096)
    platform = serializers.ChoiceField([Platform.ANDROID, Platform.IOS, Platform.WEB])
    preferences = PreferencesSerializer(required=False)


class PushRegistrationSerializer(serializers.Serializer):
    deviceId = serializers.UUIDField(source="device.uuid")
    platform = serializers.CharField()
    preferences = serializers.SerializerMethodField()
    updatedAt = serializers.DateTimeField(source="updated_at")

    def get_preferences(self, reg) -> dict:
        fmt = serializers.TimeField(format="%H:%M")
        return {"uploads": reg.uploads, "shares": reg.shares, "storage": reg.storage, "security": reg.security,
                "quietHours": {"enabled": reg.quiet_enabled,
                               "start": fmt.to_representation(reg.quiet_start) if reg.quiet_start else None,
                               "end": fmt.to_representation(reg.quiet_end) if reg.quiet_end else None,
                               "timezone": reg.timezone}}
