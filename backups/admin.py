from django.contrib import admin, messages
from django.template.defaultfilters import filesizeformat

from .models import BackupFile, BackupSession, ContactSnapshot, Device, Notification, PushRegistration
from .services import devices as device_services


@admin.register(Device)
class DeviceAdmin(admin.ModelAdmin):
    list_display = ["name", "owner", "platform", "model", "app_version", "backup_enabled", "registered_at",
                    "last_active_at", "removed_at"]
    list_filter = ["platform", "backup_enabled", ("removed_at", admin.EmptyFieldListFilter)]
    search_fields = ["name", "device_id", "uuid", "model", "owner__username", "owner__email", "owner__phone"]
    list_select_related = ["owner"]
    raw_id_fields = ["owner", "backup_folder"]
    readonly_fields = ["uuid", "device_id", "registered_at", "last_active_at", "removed_at"]
    actions = ["remove"]

    @admin.action(description="Remove the selected devices (end their sessions)")
    def remove(self, request, queryset):
        removed = 0
        for device in queryset.filter(removed_at__isnull=True).select_related("owner"):
            device_services.device_remove(device=device)
            removed += 1
        self.message_user(request, f"{removed} device(s) removed.", messages.SUCCESS)

    def has_add_permission(self, request):
        return False


class BackupFileInline(admin.TabularInline):
    model = BackupFile
    extra = 0
    can_delete = False
    fields = ["name", "folder", "asset_id", "size", "outcome", "reason_code", "reason", "superseded", "node",
              "created_at", "finished_at"]
    readonly_fields = fields
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(BackupSession)
class BackupSessionAdmin(admin.ModelAdmin):
    list_display = ["uuid", "device", "owner", "status", "expected_files", "expected_bytes", "started_at",
                    "completed_at"]
    list_filter = ["status"]
    search_fields = ["uuid", "device__name", "device__device_id", "owner__username", "owner__email"]
    list_select_related = ["device", "owner"]
    raw_id_fields = ["owner", "device"]
    readonly_fields = ["uuid", "started_at", "last_activity_at", "completed_at"]
    inlines = [BackupFileInline]


@admin.register(BackupFile)
class BackupFileAdmin(admin.ModelAdmin):
    list_display = ["name", "device", "outcome", "reason_code", "human_size", "created_at"]
    list_filter = ["outcome", "superseded"]
    search_fields = ["name", "asset_id", "sha256", "reason_code", "device__name", "session__uuid"]
    list_select_related = ["device"]
    raw_id_fields = ["session", "device", "node", "upload"]

    @admin.display(description="size", ordering="size")
    def human_size(self, obj):
        return filesizeformat(obj.size)

    def has_add_permission(self, request):
        return False


@admin.register(ContactSnapshot)
class ContactSnapshotAdmin(admin.ModelAdmin):
    list_display = ["device", "owner", "format", "contact_count", "version", "size", "created_at"]
    list_filter = ["format"]
    search_fields = ["device__name", "owner__username", "owner__email"]
    list_select_related = ["device", "owner"]
    raw_id_fields = ["owner", "device", "node"]

    def has_add_permission(self, request):
        return False


@admin.register(PushRegistration)
class PushRegistrationAdmin(admin.ModelAdmin):
    list_display = ["device", "platform", "uploads", "shares", "storage", "security", "quiet_enabled", "timezone",
                    "invalid_at", "updated_at"]
    list_filter = ["platform", "quiet_enabled", ("invalid_at", admin.EmptyFieldListFilter)]
    search_fields = ["device__name", "device__owner__username", "device__owner__email"]
    list_select_related = ["device"]
    raw_id_fields = ["device"]
    exclude = ["token"]  # a credential for pushing to the user's phone


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ["title", "owner", "device", "category", "status", "attempts", "created_at", "sent_at"]
    list_filter = ["category", "status"]
    search_fields = ["title", "body", "owner__username", "owner__email", "device__name"]
    list_select_related = ["owner", "device"]
    raw_id_fields = ["owner", "device"]
    readonly_fields = ["uuid", "created_at", "sent_at", "attempts", "error"]
