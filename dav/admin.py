from django.contrib import admin

from .models import Lock


@admin.register(Lock)
class LockAdmin(admin.ModelAdmin):
    """WebDAV locks: an operator can see them and remove a stale one."""

    list_display = ["root", "owner", "scope", "depth", "principal", "expire"]
    search_fields = ["root", "owner__username"]
    readonly_fields = ["token", "owner", "root", "depth", "scope", "type", "principal", "owner_xml", "timeout",
                       "expire"]

    def has_add_permission(self, request):
        return False
