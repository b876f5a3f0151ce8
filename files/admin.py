from django.contrib import admin, messages
from django.template.defaultfilters import filesizeformat

from .models import Blob, FileVersion, SharedCopy, ShareLink, UploadBatch, UploadPart, UploadSession, UploadStatus
from .services import shares, upload_sessions


@admin.register(Blob)
class BlobAdmin(admin.ModelAdmin):
    list_display = ["sha256", "human_size", "ref_count", "storage_key", "created_at"]
    search_fields = ["sha256", "storage_key"]
    readonly_fields = ["sha256", "size", "storage_key", "ref_count", "created_at"]

    @admin.display(description="size", ordering="size")
    def human_size(self, obj):
        return filesizeformat(obj.size)

    def has_add_permission(self, request):
        return False


@admin.register(FileVersion)
class FileVersionAdmin(admin.ModelAdmin):
    list_display = ["node", "number", "size", "mime_type", "created_by", "created_at"]
    search_fields = ["node__name", "node__uuid", "blob__sha256"]
    list_select_related = ["node", "created_by"]
    raw_id_fields = ["node", "blob", "created_by"]

    def has_add_permission(self, request):
        return False


@admin.register(ShareLink)
class ShareLinkAdmin(admin.ModelAdmin):
    list_display = ["node", "created_by", "created_at", "expires_at", "download_count", "max_downloads", "revoked_at"]
    list_filter = [("revoked_at", admin.EmptyFieldListFilter)]
    search_fields = ["node__name", "created_by__username", "created_by__email"]
    list_select_related = ["node", "created_by"]
    raw_id_fields = ["node", "created_by"]
    exclude = ["password_hash"]
    readonly_fields = ["token", "password_version", "download_count", "created_at"]
    actions = ["revoke"]

    @admin.action(description="Revoke the selected links")
    def revoke(self, request, queryset):
        for link in queryset:
            shares.share_revoke(link=link)
        self.message_user(request, f"{queryset.count()} link(s) revoked.", messages.SUCCESS)


@admin.register(SharedCopy)
class SharedCopyAdmin(admin.ModelAdmin):
    list_display = ["source", "shared_by", "recipient", "copy", "created_at"]
    search_fields = ["source__name", "shared_by__username", "recipient__username"]
    list_select_related = ["source", "shared_by", "recipient", "copy"]
    readonly_fields = ["source", "copy", "shared_by", "recipient", "created_at"]

    def has_add_permission(self, request):
        return False


class UploadPartInline(admin.TabularInline):
    model = UploadPart
    extra = 0
    can_delete = False
    fields = ["number", "offset", "size", "sha256", "storage_key", "etag", "created_at"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(UploadSession)
class UploadSessionAdmin(admin.ModelAdmin):
    list_display = ["uuid", "name", "owner", "source", "status", "expected_size", "reserved", "expires_at",
                    "created_at"]
    list_filter = ["status", "source", "direct"]
    search_fields = ["uuid", "name", "owner__username", "owner__email", "local_id"]
    list_select_related = ["owner"]
    raw_id_fields = ["owner", "created_by", "batch", "folder", "node"]
    readonly_fields = [f.name for f in UploadSession._meta.fields]
    inlines = [UploadPartInline]
    actions = ["cancel"]

    @admin.action(description="Cancel the selected uploads (delete parts, release quota)")
    def cancel(self, request, queryset):
        cancelled = 0
        for session in queryset.exclude(status__in=[UploadStatus.COMPLETE, UploadStatus.FAILED,
                                                    UploadStatus.EXPIRED]):
            upload_sessions.session_fail(session, "CANCELLED", "Cancelled by an operator.")
            cancelled += 1
        self.message_user(request, f"{cancelled} upload(s) cancelled.", messages.SUCCESS)

    def has_add_permission(self, request):
        return False


@admin.register(UploadBatch)
class UploadBatchAdmin(admin.ModelAdmin):
    list_display = ["uuid", "owner", "source", "expected_files", "expected_bytes", "created_at", "completed_at"]
    list_filter = ["source"]
    search_fields = ["uuid", "owner__username", "owner__email"]
    list_select_related = ["owner"]
    raw_id_fields = ["owner", "folder"]
    readonly_fields = [f.name for f in UploadBatch._meta.fields]

    def has_add_permission(self, request):
        return False
