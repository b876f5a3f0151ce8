"""Previews belong to the content: one row per (blob, preview type), so identical
files share their previews and the rows go when the blob is collected."""

import uuid

from django.db import models

from files.models import Blob


class PreviewType(models.TextChoices):
    THUMBNAIL = "thumbnail", "Thumbnail (256 px)"
    MEDIUM = "medium", "Medium (1024 px)"


class PreviewStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    PROCESSING = "processing", "Processing"
    READY = "ready", "Ready"
    FAILED = "failed", "Failed"
    UNSUPPORTED = "unsupported", "Unsupported"  # no preview for this content; not a failure


class MediaKind(models.TextChoices):
    IMAGE = "image", "Image"
    VIDEO = "video", "Video"
    AUDIO = "audio", "Audio"
    DOCUMENT = "document", "Document (PDF)"
    OTHER = "other", "Other"


def preview_key_new() -> str:
    """A random storage key under previews/; never derived from user input."""
    key = uuid.uuid4().hex
    return f"previews/{key[:2]}/{key}"


class Preview(models.Model):
    blob = models.ForeignKey(Blob, on_delete=models.CASCADE, related_name="previews")
    preview_type = models.CharField(max_length=16, choices=PreviewType.choices)
    status = models.CharField(max_length=16, choices=PreviewStatus.choices, default=PreviewStatus.PENDING)
    media_kind = models.CharField(max_length=16, choices=MediaKind.choices, default=MediaKind.OTHER)
    # Fixed for the row's life: a re-run overwrites the same object, so it is harmless.
    storage_key = models.CharField(max_length=200, unique=True, default=preview_key_new, editable=False)
    content_type = models.CharField(max_length=32, blank=True)
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)
    bytes = models.PositiveIntegerField(null=True, blank=True)
    sha256 = models.CharField(max_length=64, blank=True, help_text="Of the preview image (its ETag).")
    metadata = models.JSONField(default=dict, blank=True, help_text="Of the source: size, duration, codec, ...")
    took_ms = models.PositiveIntegerField(null=True, blank=True, help_text="Time to make the previews of the blob.")
    error = models.CharField(max_length=500, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    job = models.UUIDField(null=True, blank=True, editable=False, help_text="The run that claimed the row.")
    queued_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["blob", "preview_type"]
        constraints = [models.UniqueConstraint(fields=["blob", "preview_type"],
                                               name="%(app_label)s_%(class)s_one_per_blob_and_type")]
        indexes = [models.Index(fields=["status", "updated_at"], name="previews_preview_status")]

    def __str__(self) -> str:
        return f"{self.preview_type} of blob {self.blob_id} ({self.status})"
