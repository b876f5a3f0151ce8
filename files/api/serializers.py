from django.urls import reverse
from rest_framework import serializers

from folders.api.serializers import CONFLICT_HELP

from storage_site.core.fields import IntegerField

from ..models import FileVersion, ShareLink


class VersionSerializer(serializers.ModelSerializer):
    sha256 = serializers.CharField(source="blob.sha256")
    mimeType = serializers.CharField(source="mime_type")
    createdAt = serializers.DateTimeField(source="created_at")
    isCurrent = serializers.SerializerMethodField()

    class Meta:
        model = FileVersion
        fields = ["number", "size", "sha256", "mimeType", "createdAt", "isCurrent"]

    def get_isCurrent(self, version) -> bool:
        return version.number == version.node.version


class ShareLinkSerializer(serializers.ModelSerializer):
    id = serializers.IntegerField(source="pk")
    url = serializers.SerializerMethodField(help_text="The page a person opens (`/s/{token}`).")
    downloadUrl = serializers.SerializerMethodField(help_text="The file's bytes (`Range` supported).")
    fileId = serializers.UUIDField(source="node.uuid")
    hasPassword = serializers.BooleanField(source="has_password")
    expiresAt = serializers.DateTimeField(source="expires_at")
    maxDownloads = serializers.IntegerField(source="max_downloads")
    downloadCount = serializers.IntegerField(source="download_count")
    createdAt = serializers.DateTimeField(source="created_at")
    revokedAt = serializers.DateTimeField(source="revoked_at")

    class Meta:
        model = ShareLink
        fields = ["id", "token", "url", "downloadUrl", "fileId", "hasPassword", "expiresAt", "maxDownloads", "downloadCount",
                  "createdAt", "revokedAt"]

    def get_url(self, link) -> str:
        return share_urls(link.token, self.context.get("request"))["url"]

    def get_downloadUrl(self, link) -> str:
        return share_urls(link.token, self.context.get("request"))["downloadUrl"]


def share_urls(token: str, request=None) -> dict[str, str]:
    """Where a link leads: the page a person opens and the bytes a program fetches."""
    paths = {"url": reverse("web:share", args=[token]), "downloadUrl": reverse("files:public-download", args=[token])}
    return {key: request.build_absolute_uri(path) if request else path for key, path in paths.items()}


# --- inputs -----------------------------------------------------------------------

class UploadSerializer(serializers.Serializer):
    file = serializers.FileField(allow_empty_file=True, use_url=False)
    folderId = serializers.CharField(required=False, allow_blank=True, help_text="Folder UUID; omitted = home.")
    name = serializers.CharField(required=False, max_length=1024, help_text="Defaults to the uploaded file's name.")
    onConflict = serializers.ChoiceField(["version", "rename", "error"], default="version", help_text=CONFLICT_HELP)


class ShareCreateSerializer(serializers.Serializer):
    expiresIn = IntegerField(required=False, min_value=60, max_value=10 * 365 * 86400,
                                         help_text="Seconds the link stays valid; omitted = no expiry.")
    password = serializers.CharField(required=False, allow_blank=False, max_length=128, trim_whitespace=False)
    maxDownloads = IntegerField(required=False, min_value=1, max_value=1_000_000)


class ShareUpdateSerializer(serializers.Serializer):
    password = serializers.CharField(required=False, allow_blank=True, max_length=128, trim_whitespace=False,
                                     help_text="New password; empty string removes it. Ends earlier grants.")
    expiresIn = IntegerField(required=False, allow_null=True, min_value=60, max_value=10 * 365 * 86400)
    maxDownloads = IntegerField(required=False, allow_null=True, min_value=1, max_value=1_000_000)


class SharePasswordSerializer(serializers.Serializer):
    password = serializers.CharField(max_length=128, trim_whitespace=False)
