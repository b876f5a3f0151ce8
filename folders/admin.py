from django.contrib import admin
from django.template.defaultfilters import filesizeformat

from .models import Change, Node, Star


@admin.register(Node)
class NodeAdmin(admin.ModelAdmin):
    list_display = ["__str__", "kind", "owner", "human_size", "version", "category", "trashed_at", "updated_at"]
    list_filter = ["kind", "category", ("trashed_at", admin.EmptyFieldListFilter), "special", "owner__role"]
    search_fields = ["name", "uuid", "owner__username", "owner__email", "owner__phone", "sha256", "mime_type"]
    list_select_related = ["owner"]
    show_full_result_count = False  # no second COUNT(*) over millions of rows
    raw_id_fields = ["owner", "parent"]
    readonly_fields = ["uuid", "path", "depth", "size", "version", "sha256", "trash_batch", "created_at", "updated_at"]
    ordering = ["-updated_at"]

    @admin.display(description="size", ordering="size")
    def human_size(self, obj):
        return filesizeformat(obj.size) if not obj.is_folder else "—"


@admin.register(Change)
class ChangeAdmin(admin.ModelAdmin):
    list_display = ["id", "owner", "action", "kind", "name", "created_at"]
    list_filter = ["action", "kind"]
    search_fields = ["name", "node_uuid", "owner__username", "owner__email"]
    list_select_related = ["owner"]
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Star)
class StarAdmin(admin.ModelAdmin):
    list_display = ["user", "node", "created_at"]
    raw_id_fields = ["user", "node"]
