"""The user admin with the actions that reach across apps: recount usage, empty a
user's trash. Accounts cannot import files (dependencies point down), so the
operators' layer, which sits above every app, extends accounts' UserAdmin here."""

from django.contrib import admin, messages
from django.template.defaultfilters import filesizeformat

from accounts.admin import UserAdmin
from accounts.models import User
from files.services import nodes

from . import operations


class OperatorUserAdmin(UserAdmin):
    actions = [*UserAdmin.actions, "recompute_usage", "empty_trash"]

    @admin.action(description="Recount storage usage of the selected users")
    def recompute_usage(self, request, queryset):
        fixes = operations.usage_recompute(user_ids=list(queryset.values_list("pk", flat=True)))
        for fix in fixes:
            self.message_user(request, f"{fix.username}: usage {filesizeformat(fix.recorded)} → "
                                       f"{filesizeformat(fix.actual)}", messages.WARNING)
        self.message_user(request, f"{queryset.count()} user(s) recounted, {len(fixes)} corrected.", messages.SUCCESS)

    @admin.action(description="Empty the trash of the selected users (deletes for good)")
    def empty_trash(self, request, queryset):
        freed = sum(nodes.trash_empty(user=user) for user in queryset)
        self.message_user(request, f"Trash emptied for {queryset.count()} user(s); {filesizeformat(freed)} freed.",
                          messages.SUCCESS)


admin.site.unregister(User)
admin.site.register(User, OperatorUserAdmin)
