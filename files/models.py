"""Bytes: content-addressed blobs, the versions of file nodes, and public links."""

import secrets

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
        indexes = [models.Index(fields=["ref_count"], name="files_blob_unreferenced",
                                condition=Q(ref_count=0))]

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
    download_count = models.PositiveIntegerField(default=0)
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
        return self.max_downloads is not None and self.download_count >= self.max_downloads


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
