from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.db.models import F
from django.template.defaultfilters import filesizeformat
from django.utils.html import format_html

from . import services
from .models import AppPassword, AuthSession, OtpChallenge, User, UserGroup


class UsageFilter(admin.SimpleListFilter):
    title = "usage"
    parameter_name = "usage"

    def lookups(self, request, model_admin):
        return [("over", "over quota"), ("90", "above 90 %"), ("empty", "stores nothing")]

    def queryset(self, request, queryset):
        if self.value() == "over":
            return queryset.filter(storage_used__gt=F("storage_quota"))
        if self.value() == "90":
            return queryset.filter(storage_used__gte=F("storage_quota") * 0.9)
        if self.value() == "empty":
            return queryset.filter(storage_used=0)
        return queryset


class AuthSessionInline(admin.TabularInline):
    model = AuthSession
    extra = 0
    can_delete = False
    fields = ["client", "ip_address", "user_agent", "created_at", "last_seen_at", "expires_at", "revoked_at"]
    readonly_fields = fields
    show_change_link = True

    def get_queryset(self, request):
        return super().get_queryset(request).filter(revoked_at__isnull=True)

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    list_display = ["username", "email", "phone", "role", "plan", "usage", "is_active", "date_joined"]
    list_filter = ["role", "is_active", UsageFilter, "plan", "is_group_account", "user_groups"]
    search_fields = ["username", "email", "phone", "full_name", "uuid"]
    ordering = ["-date_joined"]
    readonly_fields = ["uuid", "is_staff", "usage_detail", "storage_quota", "plan", "plan_storage_quota",
                       "storage_used", "storage_reserved", "date_joined", "last_login"]
    fieldsets = [
        (None, {"fields": ["uuid", "username", "password"]}),
        ("Profile", {"fields": ["full_name", "email", "phone", "avatar"]}),
        ("Access", {"fields": ["role", "is_active", "is_staff", "is_superuser"]}),
        ("Storage", {"fields": ["usage_detail", "storage_quota_override", "storage_quota", "plan",
                                "plan_storage_quota", "storage_used", "storage_reserved", "device_limit"],
                     "description": "Set a quota override in bytes to replace the plan's quota; empty it to "
                                    "return the user to their plan."}),
        ("Dates", {"fields": ["date_joined", "last_login"]}),
    ]
    add_fieldsets = [(None, {"classes": ["wide"], "fields": ["username", "email", "phone", "role",
                                                             "password1", "password2"]})]
    filter_horizontal = []
    inlines = [AuthSessionInline]
    actions = ["revoke_sessions", "deactivate"]

    @admin.display(description="usage", ordering="storage_used")
    def usage(self, obj):
        share = min(100.0, 100.0 * obj.storage_used / obj.storage_quota) if obj.storage_quota else 0.0
        color = "#c62828" if obj.storage_used > obj.storage_quota else "#e0a030" if share >= 90 else "#417690"
        return format_html(
            '<span title="{} %"><span style="display:inline-block;width:60px;height:8px;background:#eee;'
            'vertical-align:middle"><span style="display:block;width:{}%;height:8px;background:{}"></span></span> '
            '{} / {}</span>', f"{share:.1f}", f"{share:.0f}", color, filesizeformat(obj.storage_used),
            filesizeformat(obj.storage_quota))

    @admin.display(description="usage against quota")
    def usage_detail(self, obj):
        return self.usage(obj) if obj.pk else "—"

    def save_model(self, request, obj, form, change):
        if not change:
            super().save_model(request, obj, form, change)
            return
        # Only what the form changed: the usage counters move under uploads meanwhile.
        concrete = {field.name for field in User._meta.concrete_fields}
        fields = [name for name in form.changed_data if name in concrete and name != "storage_quota_override"]
        if {"role", "is_superuser"} & set(fields):
            fields.append("is_staff")
        if fields:
            obj.save(update_fields=[*fields, "updated_at"])
        if "storage_quota_override" in form.changed_data:
            services.user_quota_override_set(user=obj, storage_quota=obj.storage_quota_override)

    @admin.action(description="Revoke all sessions of the selected users")
    def revoke_sessions(self, request, queryset):
        total = sum(services.sessions_revoke_for_user(user=user, reason="admin") for user in queryset)
        self.message_user(request, f"{total} session(s) revoked.", messages.SUCCESS)

    @admin.action(description="Deactivate the selected users (ends their sessions)")
    def deactivate(self, request, queryset):
        for user in queryset:
            services.user_deactivate(user=user)
        self.message_user(request, f"{queryset.count()} user(s) deactivated.", messages.SUCCESS)


@admin.register(UserGroup)
class UserGroupAdmin(admin.ModelAdmin):
    list_display = ["name", "uuid", "member_count", "created_at"]
    search_fields = ["name", "uuid", "members__username", "members__email"]
    filter_horizontal = ["members"]
    readonly_fields = ["uuid"]

    @admin.display(description="members")
    def member_count(self, obj):
        return obj.members.count()

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        services.group_account(group=obj)


@admin.register(AuthSession)
class AuthSessionAdmin(admin.ModelAdmin):
    list_display = ["user", "client", "ip_address", "created_at", "last_seen_at", "expires_at", "revoked_at"]
    list_filter = ["client", ("revoked_at", admin.EmptyFieldListFilter)]
    search_fields = ["user__username", "user__email", "user__phone", "ip_address", "uuid"]
    readonly_fields = [f.name for f in AuthSession._meta.fields]
    list_select_related = ["user"]
    actions = ["revoke"]

    def has_add_permission(self, request):
        return False

    @admin.action(description="Revoke the selected sessions")
    def revoke(self, request, queryset):
        for session in queryset:
            services.session_revoke(session=session, reason="admin")
        self.message_user(request, f"{queryset.count()} session(s) revoked.", messages.SUCCESS)


@admin.register(OtpChallenge)
class OtpChallengeAdmin(admin.ModelAdmin):
    list_display = ["phone", "created_at", "expires_at", "failed_attempts", "consumed_at", "superseded"]
    search_fields = ["phone"]
    readonly_fields = [f.name for f in OtpChallenge._meta.fields]
    exclude = ["code_hash"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(AppPassword)
class AppPasswordAdmin(admin.ModelAdmin):
    """App passwords are created by their owner (the secret is shown to them once);
    an operator can see and revoke (delete) them."""

    list_display = ["name", "user", "prefix", "created_at", "last_used_at"]
    search_fields = ["name", "user__username", "user__email"]
    readonly_fields = ["uuid", "user", "name", "prefix", "created_at", "last_used_at"]
    exclude = ["secret_hash"]
    list_select_related = ["user"]

    def has_add_permission(self, request):
        return False
