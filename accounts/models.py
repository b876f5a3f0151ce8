import secrets
import uuid

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.db import models
from django.db.models import Q
from django.utils import timezone


def _new_fileaccesskey() -> str:  # named by migration 0001
    return secrets.token_urlsafe(32)


def _avatar_path(user: "User", filename: str) -> str:
    # Storage keys never contain user input.
    return f"avatars/{user.uuid}"


class Role(models.TextChoices):
    ADMIN = "admin", "Admin"
    CLIENT = "client", "Client"


class UserQuerySet(models.QuerySet):
    def active(self):
        return self.filter(is_active=True)


class UserManager(BaseUserManager.from_queryset(UserQuerySet)):
    use_in_migrations = True

    def create_user(self, username, password=None, **fields):
        if fields.get("email"):
            fields["email"] = self.normalize_email(fields["email"]).lower()
        user = self.model(username=username, **fields)
        if password:
            user.set_password(password)
        else:
            user.set_unusable_password()
        user.save()
        return user

    def create_superuser(self, username, password=None, **fields):
        fields.update(role=Role.ADMIN, is_superuser=True)
        return self.create_user(username, password, **fields)


class User(AbstractBaseUser, PermissionsMixin):
    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    username = models.CharField(max_length=150, unique=True)
    email = models.EmailField(unique=True, null=True, blank=True)
    phone = models.CharField(
        max_length=20, unique=True, null=True, blank=True, help_text="E.164, e.g. +919876543210"
    )
    full_name = models.CharField(max_length=200, blank=True)
    avatar = models.ImageField(upload_to=_avatar_path, blank=True)
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.CLIENT)
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(default=False, editable=False, help_text="Follows the role: admins are staff.")
    storage_quota = models.BigIntegerField(default=0, help_text="Bytes this user may store.")
    storage_used = models.BigIntegerField(default=0, help_text="Bytes stored now: live files, old versions and trash.")
    storage_reserved = models.BigIntegerField(default=0, help_text="Bytes held for uploads in progress.")
    # Limits come from the plan (billing sets them); an admin's quota override wins.
    # `storage_quota` is the effective figure: see services.user_limits_set.
    plan = models.CharField(max_length=40, default="free", help_text="Code of the user's storage plan.")
    plan_storage_quota = models.BigIntegerField(null=True, blank=True, editable=False,
                                                help_text="Bytes the plan allows; empty = the default quota.")
    storage_quota_override = models.BigIntegerField(null=True, blank=True,
                                                    help_text="Set by an admin; wins over the plan.")
    device_limit = models.PositiveIntegerField(null=True, blank=True, default=3,
                                               help_text="Devices the user may register; empty = no limit.")
    # The storage account of a UserGroup: owns the group's files, never signs in.
    is_group_account = models.BooleanField(default=False, editable=False)
    date_joined = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    objects = UserManager()

    USERNAME_FIELD = "username"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS = ["email"]

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(condition=Q(storage_used__gte=0), name="%(app_label)s_%(class)s_used_not_negative"),
            models.CheckConstraint(condition=Q(storage_reserved__gte=0),
                                   name="%(app_label)s_%(class)s_reserved_not_negative"),
        ]

    def __str__(self) -> str:
        return self.email or self.phone or self.username

    def save(self, *args, **kwargs):
        self.is_staff = self.role == Role.ADMIN or self.is_superuser
        if not self.storage_quota:
            self.storage_quota = settings.DEFAULT_STORAGE_QUOTA
        if self.email == "":
            self.email = None
        if self.phone == "":
            self.phone = None
        super().save(*args, **kwargs)

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN

    @property
    def display_name(self) -> str:
        return self.full_name or self.username


class UserGroup(models.Model):
    """A group of users that can own files and folders (FileAgo's owner type Group)."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(max_length=150, unique=True)
    members = models.ManyToManyField(User, related_name="user_groups", blank=True)
    # Owns the group's files and folders and carries its quota.
    account = models.OneToOneField(User, on_delete=models.PROTECT, null=True, blank=True, editable=False,
                                   related_name="group_of")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        verbose_name = "group"

    def __str__(self) -> str:
        return self.name


class Client(models.TextChoices):
    WEB = "web", "LayoodStorage"
    BROWSER = "browser", "Web drive (browser)"
    MOBILE = "mobile", "MegaVault mobile"
    STREAMVAULT = "streamvault", "StreamVault"
    FILEAGO = "fileago", "FileAgo"


class AuthSessionQuerySet(models.QuerySet):
    def live(self):
        return self.filter(revoked_at__isnull=True, expires_at__gt=timezone.now())


class AuthSession(models.Model):
    """One sign-in. Access tokens name it; revoking it ends them at once."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="auth_sessions")
    client = models.CharField(max_length=20, choices=Client.choices)
    user_agent = models.CharField(max_length=300, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_seen_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoke_reason = models.CharField(max_length=40, blank=True)
    # The id of the one refresh token that may still be used; any other is a replay.
    refresh_jti = models.CharField(max_length=64, blank=True)
    # The client's own id of the device that signed in (MegaVault `deviceInfo.deviceId`);
    # its refresh token only works with that id, and removing the device ends the session.
    device_id = models.CharField(max_length=200, blank=True, db_index=True)
    # FileAgo's `fileaccesskey`, handed out by the `POST /auth` that made this session and
    # kept only as a SHA-256: it opens downloads while the session lives, no longer.
    fileaccesskey_hash = models.CharField(max_length=64, blank=True, db_index=True, editable=False)

    objects = AuthSessionQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "session"
        indexes = [models.Index(fields=["user", "revoked_at"], name="accounts_session_user_live")]

    def __str__(self) -> str:
        return f"{self.user} via {self.client} ({self.created_at:%Y-%m-%d %H:%M})"

    @property
    def is_live(self) -> bool:
        return self.revoked_at is None and self.expires_at > timezone.now()


class OtpChallenge(models.Model):
    """One WhatsApp code sent to a phone. The code is kept only as an HMAC."""

    phone = models.CharField(max_length=20, db_index=True)
    code_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    expires_at = models.DateTimeField()
    failed_attempts = models.PositiveSmallIntegerField(default=0)
    consumed_at = models.DateTimeField(null=True, blank=True)
    superseded = models.BooleanField(default=False)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "OTP challenge"

    def __str__(self) -> str:
        return f"{self.phone} at {self.created_at:%Y-%m-%d %H:%M:%S}"


class AppPassword(models.Model):
    """A password for one device or program (WebDAV clients): named, shown once,
    kept only as a SHA-256 of its random secret (enough for 160 random bits), and
    revoked by deleting it, which stops it at once."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="app_passwords")
    name = models.CharField(max_length=100)
    secret_hash = models.CharField(max_length=64, unique=True, editable=False)
    # The first characters of the secret, so a person can tell their passwords apart.
    prefix = models.CharField(max_length=8, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-created_at", "pk"]

    def __str__(self) -> str:
        return f"{self.name} ({self.user})"


class QuotaHold(models.Model):
    """Quota held for one request while its bytes arrive (accounts/quota.py). The hold
    is counted in its owner's `storage_reserved`; its lease is renewed while bytes
    flow, so a hold whose lease ran out belongs to a request that died (the process
    was killed): the sweep (`quota_holds_expire`) gives its bytes back. An upload
    session's quota is not a hold: it lives in the session, as long as the session."""

    owner = models.ForeignKey(User, on_delete=models.CASCADE, related_name="quota_holds")
    size = models.BigIntegerField()
    purpose = models.CharField(max_length=40, help_text="What held it: upload, bulk-file, part, copy…")
    lease_until = models.DateTimeField(db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(size__gte=0), name="%(app_label)s_%(class)s_size_not_negative")]

    def __str__(self) -> str:
        return f"{self.size} bytes for {self.purpose} until {self.lease_until:%H:%M:%S}"
