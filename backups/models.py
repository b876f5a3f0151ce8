"""Phones and other devices: their registration and settings, auto-backup sessions
with one outcome per file, contacts snapshots, push registrations and the
notifications sent to them."""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q

from files.models import UploadSession
from folders.models import Node


class Platform(models.TextChoices):
    ANDROID = "android"
    IOS = "ios"
    WEB = "web"
    DESKTOP = "desktop"
    OTHER = "other"


class UploadQuality(models.TextChoices):
    ORIGINAL = "original"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


class DeviceQuerySet(models.QuerySet):
    def for_owner(self, user):
        return self.filter(owner=user)

    def live(self):
        return self.filter(removed_at__isnull=True)


class Device(models.Model):
    """A device a user signed in from or registered for backup. A removed device
    keeps its history (backup sessions, logs) but no longer counts, signs in or
    receives pushes; registering the same `device_id` again brings it back."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="devices")
    device_id = models.CharField(max_length=200, help_text="The client's own id of the device (deviceInfo.deviceId).")
    name = models.CharField(max_length=100)
    platform = models.CharField(max_length=16, choices=Platform.choices, default=Platform.OTHER)
    model = models.CharField(max_length=100, blank=True)
    os_version = models.CharField(max_length=50, blank=True)
    app_version = models.CharField(max_length=50, blank=True)
    registered_at = models.DateTimeField(auto_now_add=True)
    last_active_at = models.DateTimeField(null=True, blank=True)
    removed_at = models.DateTimeField(null=True, blank=True)

    # Settings the client reads back (MegaVault device settings, LayoodStorage backup preferences).
    auto_upload = models.BooleanField(default=True)
    background_sync = models.BooleanField(default=True)
    wifi_only = models.BooleanField(default=True)
    upload_quality = models.CharField(max_length=16, choices=UploadQuality.choices, default=UploadQuality.ORIGINAL)
    sync_folders = models.JSONField(default=list, blank=True)
    max_cache_size = models.BigIntegerField(null=True, blank=True, help_text="Bytes; empty = the app decides.")
    backup_enabled = models.BooleanField(default=True)

    # Where this device's backups go (Backups/<name>); made on the first backup.
    backup_folder = models.ForeignKey(Node, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")

    objects = DeviceQuerySet.as_manager()

    class Meta:
        ordering = ["-registered_at"]
        constraints = [
            models.UniqueConstraint(fields=["owner", "device_id"], condition=Q(removed_at__isnull=True),
                                    name="%(app_label)s_%(class)s_one_live_per_device_id"),
        ]
        indexes = [models.Index(fields=["owner", "device_id"], name="backups_device_owner_devid")]

    def __str__(self) -> str:
        return self.name

    @property
    def is_live(self) -> bool:
        return self.removed_at is None


class BackupStatus(models.TextChoices):
    RUNNING = "running"
    COMPLETED = "completed"
    INTERRUPTED = "interrupted"  # a newer session of the same device started
    EXPIRED = "expired"  # idle longer than BACKUP_SESSION_IDLE_HOURS


class BackupSessionQuerySet(models.QuerySet):
    def for_owner(self, user):
        return self.filter(owner=user)


class BackupSession(models.Model):
    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="backup_sessions")
    device = models.ForeignKey(Device, on_delete=models.CASCADE, related_name="backup_sessions")
    status = models.CharField(max_length=16, choices=BackupStatus.choices, default=BackupStatus.RUNNING,
                              db_index=True)
    expected_files = models.PositiveIntegerField(null=True, blank=True)
    expected_bytes = models.BigIntegerField(null=True, blank=True)
    started_at = models.DateTimeField(auto_now_add=True)
    last_activity_at = models.DateTimeField(auto_now_add=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    objects = BackupSessionQuerySet.as_manager()

    class Meta:
        ordering = ["-started_at"]
        indexes = [models.Index(fields=["device", "status"], name="backups_session_device_status")]

    def __str__(self) -> str:
        return f"backup {self.uuid} of {self.device} ({self.status})"


class Outcome(models.TextChoices):
    PENDING = "pending"  # a big file whose chunks are still arriving or being assembled
    UPLOADED = "uploaded"
    ALREADY_PRESENT = "already_present"  # the user holds the same content: nothing stored or charged
    FAILED = "failed"


class BackupFile(models.Model):
    """One file a backup session was sent, and how it ended. Nothing a device sends
    is silently skipped: every attempt is a row with an outcome (and a reason)."""

    session = models.ForeignKey(BackupSession, on_delete=models.CASCADE, related_name="files")
    device = models.ForeignKey(Device, on_delete=models.CASCADE, related_name="backup_files")
    name = models.CharField(max_length=255)
    folder = models.CharField(max_length=1024, blank=True, help_text="Path under the device's backup folder.")
    asset_id = models.CharField(max_length=255, blank=True, help_text="The device's id of the photo or file.")
    size = models.BigIntegerField(default=0)
    sha256 = models.CharField(max_length=64, blank=True)
    outcome = models.CharField(max_length=16, choices=Outcome.choices, db_index=True)
    reason_code = models.CharField(max_length=64, blank=True)
    reason = models.CharField(max_length=500, blank=True)
    # A later attempt of the same file in the same session succeeded.
    superseded = models.BooleanField(default=False)
    node = models.ForeignKey(Node, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    upload = models.OneToOneField(UploadSession, on_delete=models.SET_NULL, null=True, blank=True,
                                  related_name="backup_file")
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["pk"]
        indexes = [
            models.Index(fields=["device", "asset_id"], name="backups_file_device_asset"),
            models.Index(fields=["session", "outcome"], name="backups_file_session_outcome"),
            models.Index(fields=["created_at"], name="backups_file_created"),
        ]

    def __str__(self) -> str:
        return f"{self.name}: {self.outcome}"


class ContactFormat(models.TextChoices):
    JSON = "json"
    VCARD = "vcard"


class ContactSnapshot(models.Model):
    """One contacts backup of a device: a version of the device's contacts file."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="contact_snapshots")
    device = models.ForeignKey(Device, on_delete=models.CASCADE, related_name="contact_snapshots")
    node = models.ForeignKey(Node, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    version = models.PositiveIntegerField()
    format = models.CharField(max_length=8, choices=ContactFormat.choices)
    contact_count = models.PositiveIntegerField()
    size = models.BigIntegerField()
    sha256 = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.contact_count} contacts of {self.device} ({self.created_at:%Y-%m-%d %H:%M})"


class PushRegistration(models.Model):
    """Where and what to push to one device."""

    device = models.OneToOneField(Device, on_delete=models.CASCADE, related_name="push")
    token = models.CharField(max_length=4096)
    # Tokens are long; their hash finds the registrations holding one.
    token_sha256 = models.CharField(max_length=64, db_index=True, editable=False)
    platform = models.CharField(max_length=16, choices=Platform.choices)
    uploads = models.BooleanField(default=True)
    shares = models.BooleanField(default=True)
    storage = models.BooleanField(default=True)
    security = models.BooleanField(default=True)
    quiet_enabled = models.BooleanField(default=False)
    quiet_start = models.TimeField(null=True, blank=True)
    quiet_end = models.TimeField(null=True, blank=True)
    timezone = models.CharField(max_length=64, default="UTC", help_text="IANA name, e.g. Asia/Kolkata.")
    # Set when the push service says the token is dead; nothing is sent until the app registers again.
    invalid_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"push to {self.device}"


class Category(models.TextChoices):
    UPLOADS = "uploads"
    SHARES = "shares"
    STORAGE = "storage"
    SECURITY = "security"


class NotificationStatus(models.TextChoices):
    QUEUED = "queued"
    HELD = "held"  # quiet hours: goes out when they end
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"


class Notification(models.Model):
    """One push to one device."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications")
    device = models.ForeignKey(Device, on_delete=models.CASCADE, related_name="notifications")
    category = models.CharField(max_length=16, choices=Category.choices)
    title = models.CharField(max_length=200)
    body = models.CharField(max_length=1000)
    data = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=16, choices=NotificationStatus.choices, default=NotificationStatus.QUEUED)
    held_until = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status", "held_until"], name="backups_notif_held")]

    def __str__(self) -> str:
        return f"{self.category}: {self.title}"


class StorageAlert(models.Model):
    """Whether the user is above the storage alert threshold, so the warning is
    sent once per crossing and not on every upload."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+",
                                primary_key=True)
    above = models.BooleanField(default=False)
    changed_at = models.DateTimeField(auto_now=True)
