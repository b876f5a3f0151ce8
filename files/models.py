"""Bytes: content-addressed blobs, the versions of file nodes, and public links."""

import secrets
import uuid as uuid_module

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from folders.models import Node


class Blob(models.Model):
    """Content stored once, whoever holds it. The storage key is random, never user input."""

    sha256 = models.CharField(max_length=64, unique=True)
    size = models.BigIntegerField()
    storage_key = models.CharField(max_length=200, unique=True)
    ref_count = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["ref_count"], name="files_blob_unreferenced", condition=Q(ref_count=0)),
                   # growth over time (admin analytics) is a range scan
                   models.Index(fields=["created_at"], name="files_blob_created")]

    def __str__(self) -> str:
        return f"{self.sha256[:12]}… ({self.size} B)"


class FileVersion(models.Model):
    node = models.ForeignKey(Node, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    blob = models.ForeignKey(Blob, on_delete=models.PROTECT, related_name="versions")
    size = models.BigIntegerField()
    mime_type = models.CharField(max_length=255, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["node", "-number"]
        constraints = [models.UniqueConstraint(fields=["node", "number"], name="%(app_label)s_%(class)s_unique_number")]
        indexes = [models.Index(fields=["created_at"], name="files_version_created")]  # uploads per day

    def __str__(self) -> str:
        return f"{self.node} v{self.number}"


def _share_token() -> str:
    return secrets.token_urlsafe(24)  # 192 bits


class ShareLinkQuerySet(models.QuerySet):
    def for_owner(self, user):
        return self.filter(node__owner=user)


class ShareLink(models.Model):
    """A public link to a file. Bound to the node's id, so a new file with the same
    name never inherits an old link."""

    token = models.CharField(max_length=64, unique=True, default=_share_token, editable=False)
    node = models.ForeignKey(Node, on_delete=models.CASCADE, related_name="share_links")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    password_hash = models.CharField(max_length=200, blank=True)
    # Bumped on every password change; grants carry it, so old grants stop working.
    password_version = models.PositiveIntegerField(default=0)
    max_downloads = models.PositiveIntegerField(null=True, blank=True)
    # Answers that carried byte 0 (downloads begun).
    download_count = models.PositiveIntegerField(default=0)
    # Bytes handed out through the link, every range included: a limited link serves at
    # most size x max_downloads (see services.shares.share_download_charge).
    bytes_served = models.BigIntegerField(default=0, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = ShareLinkQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"link to {self.node}"

    @property
    def has_password(self) -> bool:
        return bool(self.password_hash)

    @property
    def is_expired(self) -> bool:
        return self.expires_at is not None and self.expires_at <= timezone.now()

    @property
    def is_exhausted(self) -> bool:
        """Nothing left to serve: the bytes of every allowed download have gone out. A
        last download that broke off can still be resumed with a Range."""
        if self.max_downloads is None:
            return False
        if not self.node.size:
            return self.download_count >= self.max_downloads
        return self.bytes_served >= self.node.size * self.max_downloads


def _upload_token() -> str:
    return secrets.token_urlsafe(32)  # 256 bits


class UploadToken(models.Model):
    """FileAgo's upload credential: one upload into one folder (or as a new revision
    of one file), valid a few seconds, used once. The row is deleted when used."""

    token = models.CharField(max_length=64, unique=True, default=_upload_token, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    node = models.ForeignKey(Node, on_delete=models.CASCADE, related_name="+")
    expires_at = models.DateTimeField(db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"upload token for {self.node}"


class SharedCopy(models.Model):
    """A copy given with FileAgo's `share_copy_with`: what was shared, by whom, with
    which account (a user, or a group's storage account), and the copy it received."""

    source = models.ForeignKey(Node, on_delete=models.SET_NULL, null=True, blank=True, related_name="shared_copies")
    copy = models.OneToOneField(Node, on_delete=models.SET_NULL, null=True, blank=True, related_name="shared_from")
    shared_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                  related_name="+")
    recipient = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "shared copies"

    def __str__(self) -> str:
        return f"copy of {self.source} for {self.recipient}"


class UploadStatus(models.TextChoices):
    UPLOADING = "uploading"
    ASSEMBLING = "assembling"
    COMPLETE = "complete"
    FAILED = "failed"
    EXPIRED = "expired"


class UploadSource(models.TextChoices):
    """Which front door started an upload; all share one engine."""

    STREAMVAULT = "streamvault"
    MEGAVAULT = "megavault"
    BULK = "bulk"
    TUS = "tus"
    BACKUP = "backup"  # a big file of a phone's auto-backup session (backups app)
    SYNC = "sync"  # an upload a MegaVault delta sync asked for
    NEXTCLOUD = "nextcloud"  # Nextcloud's chunked upload (nextcloud/chunking.py)


class UploadBatch(models.Model):
    """Uploads started together: a MegaVault upload session (several files) or a
    LayoodStorage bulk upload (a folder from a PC). Progress and the summary are
    read off its upload sessions."""

    uuid = models.UUIDField(default=uuid_module.uuid4, unique=True, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="upload_batches")
    source = models.CharField(max_length=16, choices=UploadSource.choices)
    folder = models.ForeignKey(Node, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    expected_files = models.PositiveIntegerField(null=True, blank=True)
    expected_bytes = models.BigIntegerField(null=True, blank=True)
    options = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "upload batches"

    def __str__(self) -> str:
        return f"{self.source} batch {self.uuid}"


class UploadSession(models.Model):
    """One file arriving in parts. Parts are idempotent by number
    and may come in any order; `reserved` is the quota held for the upload until
    it completes, fails or expires."""

    uuid = models.UUIDField(default=uuid_module.uuid4, unique=True, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="upload_sessions")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                   related_name="+")
    source = models.CharField(max_length=16, choices=UploadSource.choices)
    batch = models.ForeignKey(UploadBatch, on_delete=models.CASCADE, null=True, blank=True, related_name="sessions")
    local_id = models.CharField(max_length=255, blank=True, help_text="The client's id for the file (MegaVault).")
    folder = models.ForeignKey(Node, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    name = models.CharField(max_length=255)
    conflict_policy = models.CharField(max_length=16, default="version")
    mime_type = models.CharField(max_length=255, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    expected_size = models.BigIntegerField(null=True, blank=True)
    expected_sha256 = models.CharField(max_length=64, blank=True)
    total_parts = models.PositiveIntegerField(null=True, blank=True)
    chunk_size = models.BigIntegerField(null=True, blank=True)
    status = models.CharField(max_length=16, choices=UploadStatus.choices, default=UploadStatus.UPLOADING,
                              db_index=True)
    reserved = models.BigIntegerField(default=0)
    # The whole-file SHA-256 of parts 1..hashed_parts, added as each arrived in order
    # (files/uploads/digest.py); `complete` reads back only what it does not cover.
    hashed_parts = models.PositiveIntegerField(default=0)
    sha256_state = models.BinaryField(default=b"", blank=True, editable=False)
    # The final object; with S3, `multipart_id` is its multipart upload (parts sent
    # to it directly, by the server or by the client through presigned URLs).
    storage_key = models.CharField(max_length=200)
    multipart_id = models.CharField(max_length=1024, blank=True)
    direct = models.BooleanField(default=False, help_text="Parts go straight to S3 through presigned URLs.")
    node = models.ForeignKey(Node, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    error_code = models.CharField(max_length=64, blank=True)
    error_message = models.CharField(max_length=500, blank=True)
    expires_at = models.DateTimeField(db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"upload {self.uuid} of {self.name} ({self.status})"


class UploadPart(models.Model):
    """A received part: its own object (`storage_key`), or a part of the session's
    S3 multipart upload (`etag`). `sha256` is empty for parts the client sent
    straight to S3."""

    session = models.ForeignKey(UploadSession, on_delete=models.CASCADE, related_name="parts")
    number = models.PositiveIntegerField()
    offset = models.BigIntegerField(null=True, blank=True)
    size = models.BigIntegerField()
    sha256 = models.CharField(max_length=64, blank=True)
    storage_key = models.CharField(max_length=200, blank=True)
    etag = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["session", "number"]
        constraints = [models.UniqueConstraint(fields=["session", "number"],
                                               name="%(app_label)s_%(class)s_unique_number")]

    def __str__(self) -> str:
        return f"part {self.number} of {self.session_id}"


# --- MegaVault delta sync and the offline queue (services/sync/) ---------------------------

class SyncConflictStatus(models.TextChoices):
    OPEN = "open"
    RESOLVING = "resolving"  # claimed by one resolve request while it works
    RESOLVED = "resolved"


class SyncResolution(models.TextChoices):
    KEEP_REMOTE = "keep_remote"
    KEEP_LOCAL = "keep_local"
    KEEP_BOTH = "keep_both"


class SyncConflict(models.Model):
    """A phone's change that met a server state the phone had not seen. Nothing of it
    is applied until someone chooses; every choice keeps every version."""

    uuid = models.UUIDField(default=uuid_module.uuid4, unique=True, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="sync_conflicts")
    # The server's entry; null for a new file whose path another device is uploading to.
    node = models.ForeignKey(Node, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    device_id = models.CharField(max_length=200, blank=True)
    local_id = models.CharField(max_length=255)
    action = models.CharField(max_length=16)
    reason = models.CharField(max_length=16, help_text="modified, exists or pending.")
    local_change = models.JSONField(default=dict)
    base_version = models.PositiveIntegerField(null=True, blank=True)
    server_version = models.PositiveIntegerField(default=0)
    server_checksum = models.CharField(max_length=64, blank=True)
    server_name = models.CharField(max_length=255, blank=True)
    status = models.CharField(max_length=16, choices=SyncConflictStatus.choices, default=SyncConflictStatus.OPEN)
    resolution = models.CharField(max_length=16, choices=SyncResolution.choices, blank=True)
    result = models.JSONField(default=dict, blank=True)
    upload_session = models.ForeignKey(UploadSession, on_delete=models.SET_NULL, null=True, blank=True,
                                       related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "pk"]
        constraints = [
            # One open conflict per local file of a device: a retried push meets the same one.
            models.UniqueConstraint(fields=["owner", "device_id", "local_id"], condition=~Q(status="resolved"),
                                    name="%(app_label)s_%(class)s_one_open_per_local_file"),
        ]
        indexes = [models.Index(fields=["owner", "status", "created_at"], name="files_syncconflict_open")]

    def __str__(self) -> str:
        return f"conflict {self.uuid} ({self.action}, {self.status})"


class SyncUpload(models.Model):
    """A sync upload's claim on one path (folder + name). While its upload session
    is open, another device's different content for that file is a conflict rather
    than a silent newer version; the unique index makes "first claim wins" hold
    under concurrency. A claim whose session ended is released at the next claim."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    folder = models.ForeignKey(Node, on_delete=models.CASCADE, related_name="+")
    name = models.CharField(max_length=255)
    node = models.ForeignKey(Node, on_delete=models.SET_NULL, null=True, blank=True, related_name="+",
                             help_text="The file whose content the upload replaces (none: a new file).")
    local_id = models.CharField(max_length=255, blank=True)
    device_id = models.CharField(max_length=200, blank=True)
    checksum = models.CharField(max_length=64)
    session = models.OneToOneField(UploadSession, on_delete=models.SET_NULL, null=True, blank=True,
                                   related_name="sync_claim")
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["folder", "name"], condition=Q(active=True),
                                               name="%(app_label)s_%(class)s_one_active_per_path")]

    def __str__(self) -> str:
        return f"sync upload of {self.name}"


class SyncOperation(models.Model):
    """An offline-queue operation (`queue/add`), applied once: the client's id is
    unique per owner and a replay answers the stored result without acting again."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="sync_operations")
    client_id = models.CharField(max_length=255)
    device_id = models.CharField(max_length=200, blank=True)
    type = models.CharField(max_length=16)
    payload = models.JSONField(default=dict)
    priority = models.CharField(max_length=8, default="normal")
    client_created_at = models.DateTimeField(null=True, blank=True)
    result = models.JSONField(default=dict, help_text="status, fileId, uploadId or conflictId.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "pk"]
        constraints = [models.UniqueConstraint(fields=["owner", "client_id"],
                                               name="%(app_label)s_%(class)s_unique_client_id")]

    def __str__(self) -> str:
        return f"{self.type} {self.client_id}"
