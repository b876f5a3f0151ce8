from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.template.defaultfilters import filesizeformat

from . import services
from .models import AuthSession, OtpChallenge, User, UserGroup


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
    list_display = ["username", "email", "phone", "role", "usage", "is_active", "date_joined"]
    list_filter = ["role", "is_active", "is_group_account", "user_groups"]
    search_fields = ["username", "email", "phone", "full_name", "uuid"]
    ordering = ["-date_joined"]
    readonly_fields = ["uuid", "is_staff", "storage_used", "fileaccesskey", "date_joined", "last_login"]
    fieldsets = [
        (None, {"fields": ["uuid", "username", "password"]}),
        ("Profile", {"fields": ["full_name", "email", "phone", "avatar"]}),
        ("Access", {"fields": ["role", "is_active", "is_staff", "is_superuser"]}),
        ("Storage", {"fields": ["storage_quota", "storage_used"]}),
        ("Keys and dates", {"fields": ["fileaccesskey", "date_joined", "last_login"]}),
    ]
    add_fieldsets = [(None, {"classes": ["wide"], "fields": ["username", "email", "phone", "role",
                                                             "password1", "password2"]})]
    filter_horizontal = []
    inlines = [AuthSessionInline]
    actions = ["revoke_sessions", "deactivate"]

    @admin.display(description="usage")
    def usage(self, obj):
        return f"{filesizeformat(obj.storage_used)} / {filesizeformat(obj.storage_quota)}"

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
