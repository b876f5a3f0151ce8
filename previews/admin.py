from django.contrib import admin, messages
from django.template.defaultfilters import filesizeformat

from . import services
from .models import Preview


@admin.register(Preview)
class PreviewAdmin(admin.ModelAdmin):
    list_display = ["blob", "preview_type", "status", "media_kind", "dimensions", "human_size", "took_ms",
                    "attempts", "short_error", "updated_at"]
    list_filter = ["status", "preview_type", "media_kind"]
    search_fields = ["blob__sha256", "error"]
    list_select_related = ["blob"]
    raw_id_fields = ["blob"]
    readonly_fields = [f.name for f in Preview._meta.fields]
    actions = ["regenerate"]

    def has_add_permission(self, request):
        return False

    @admin.display(description="size (px)")
    def dimensions(self, obj):
        return f"{obj.width}×{obj.height}" if obj.width else "—"

    @admin.display(description="bytes", ordering="bytes")
    def human_size(self, obj):
        return filesizeformat(obj.bytes) if obj.bytes else "—"

    @admin.display(description="error")
    def short_error(self, obj):
        return (obj.error[:80] + "…") if len(obj.error) > 80 else obj.error

    @admin.action(description="Regenerate the previews of the selected contents")
    def regenerate(self, request, queryset):
        blob_ids = set(queryset.values_list("blob_id", flat=True))
        queued = services.previews_regenerate(blob_ids=blob_ids)
        self.message_user(request, f"Previews of {queued} content(s) queued again.", messages.SUCCESS)
