from django.contrib import admin, messages
from django.template.defaultfilters import filesizeformat

from storage_site.core import storage

from .models import (
    Blob,
    FileVersion,
    SharedCopy,
    ShareLink,
    SyncConflict,
    SyncOperation,
    SyncUpload,
    UploadBatch,
    UploadPart,
    UploadSession,
    UploadStatus,
)
from . import uploads
from .services import shares


class ReferencedFilter(admin.SimpleListFilter):
    title = "references"
    parameter_name = "referenced"

    def lookups(self, request, model_admin):
        return [("no", "unreferenced (awaiting collection)"), ("shared", "shared (2+ references)")]

    def queryset(self, request, queryset):
        if self.value() == "no":
            return queryset.filter(ref_count=0)
        if self.value() == "shared":
            return queryset.filter(ref_count__gte=2)
        return queryset


@admin.register(Blob)
class BlobAdmin(admin.ModelAdmin):
    list_display = ["sha256", "human_size", "ref_count", "storage_key", "created_at"]
    list_filter = [ReferencedFilter, "created_at"]
    search_fields = ["sha256", "storage_key"]
    readonly_fields = ["sha256", "size", "storage_key", "ref_count", "created_at"]
    show_full_result_count = False
    actions = ["check_objects"]

    @admin.display(description="size", ordering="size")
    def human_size(self, obj):
        return filesizeformat(obj.size)

    def has_add_permission(self, request):
        return False

    @admin.action(description="Check that the objects exist with the right size")
    def check_objects(self, request, queryset):
        problems = 0
        for blob in queryset[:1000]:
            try:
                found = storage.size(blob.storage_key)
            except Exception:
                found = None
            if found != blob.size:
                problems += 1
                what = "missing or unreadable" if found is None else f"{found} bytes, expected {blob.size}"
                self.message_user(request, f"Object {blob.storage_key}: {what}", messages.ERROR)
        if not problems:
            self.message_user(request, f"{min(queryset.count(), 1000)} object(s) present with the right size.",
                              messages.SUCCESS)


@admin.register(FileVersion)
class FileVersionAdmin(admin.ModelAdmin):
    list_display = ["node", "number", "size", "mime_type", "created_by", "created_at"]
    list_filter = ["node__category", "created_at"]
    search_fields = ["node__name", "node__uuid", "blob__sha256"]
    list_select_related = ["node", "created_by"]
    raw_id_fields = ["node", "blob", "created_by"]
    show_full_result_count = False

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
    list_filter = ["status", "source", "direct", "expires_at"]
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
            uploads.session_fail(session, "CANCELLED", "Cancelled by an operator.")
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


# --- MegaVault delta sync: view only; conflicts are resolved by the phone through the API.

class _ViewOnly(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(SyncConflict)
class SyncConflictAdmin(_ViewOnly):
    list_display = ["uuid", "owner", "action", "reason", "status", "resolution", "device_id", "created_at",
                    "resolved_at"]
    list_filter = ["status", "reason", "action"]
    search_fields = ["uuid", "owner__email", "local_id", "device_id"]
    raw_id_fields = ["owner", "node", "upload_session"]


@admin.register(SyncOperation)
class SyncOperationAdmin(_ViewOnly):
    list_display = ["client_id", "owner", "type", "device_id", "created_at"]
    list_filter = ["type"]
    search_fields = ["client_id", "owner__email"]
    raw_id_fields = ["owner"]


@admin.register(SyncUpload)
class SyncUploadAdmin(_ViewOnly):
    list_display = ["name", "owner", "folder", "active", "device_id", "created_at"]
    list_filter = ["active"]
    raw_id_fields = ["owner", "folder", "node", "session"]
