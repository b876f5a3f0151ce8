from django.contrib import admin, messages
from django.template.defaultfilters import filesizeformat

from .models import Blob, FileVersion, SharedCopy, ShareLink
from .services import shares


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
