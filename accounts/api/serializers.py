from rest_framework import serializers

from ..models import AppPassword, AuthSession, User


class PhoneSerializer(serializers.Serializer):
    phone = serializers.CharField(max_length=32, help_text="International format (E.164), e.g. +919876543210.")


class VerifyOtpSerializer(PhoneSerializer):
    otp = serializers.RegexField(r"^\d{6}$", help_text="The 6-digit code received on WhatsApp.",
                                 error_messages={"invalid": "The code has 6 digits."})


class RefreshSerializer(serializers.Serializer):
    refreshToken = serializers.CharField()


class UserSerializer(serializers.ModelSerializer):
    """A user as the primary API shows it."""

    id = serializers.UUIDField(source="uuid")
    fullName = serializers.CharField(source="full_name")
    storageQuota = serializers.IntegerField(source="storage_quota")
    storageUsed = serializers.IntegerField(source="storage_used")
    createdAt = serializers.DateTimeField(source="date_joined")

    class Meta:
        model = User
        fields = ["id", "phone", "email", "username", "fullName", "role", "storageQuota", "storageUsed", "createdAt"]


class SessionSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="uuid")
    createdAt = serializers.DateTimeField(source="created_at")
    lastSeenAt = serializers.DateTimeField(source="last_seen_at")
    expiresAt = serializers.DateTimeField(source="expires_at")
    ipAddress = serializers.IPAddressField(source="ip_address")
    userAgent = serializers.CharField(source="user_agent")

    class Meta:
        model = AuthSession
        fields = ["id", "client", "createdAt", "lastSeenAt", "expiresAt", "ipAddress", "userAgent"]


class SignInSerializer(serializers.Serializer):
    token = serializers.CharField(help_text="Access JWT; send as `Authorization: Bearer <token>`.")
    refreshToken = serializers.CharField(help_text="Rotates on every refresh; a reused one ends the session.")
    expiresIn = serializers.IntegerField(help_text="Seconds until the access token expires (86400).")
    user = UserSerializer()


def sign_in_data(sign_in) -> dict:
    return {
        "token": sign_in.access,
        "refreshToken": sign_in.refresh,
        "expiresIn": sign_in.expires_in,
        "user": UserSerializer(sign_in.user).data,
    }


# --- StreamVault v5 ---------------------------------------------------------------

class SVRegisterSerializer(serializers.Serializer):
    email = serializers.EmailField()
    username = serializers.RegexField(r"^[\w.@+-]{1,150}$", error_messages={
        "invalid": "Letters, digits and @/./+/-/_ only, at most 150 characters."})
    password = serializers.CharField(write_only=True, max_length=128)


class SVLoginSerializer(serializers.Serializer):
    email = serializers.CharField(max_length=254, help_text="E-mail address (a username is accepted too).")
    password = serializers.CharField(write_only=True, max_length=128)


class SVUserSerializer(serializers.ModelSerializer):
    class Meta:
        model = User
        fields = ["id", "email", "username", "date_joined"]


class SVRefreshSerializer(serializers.Serializer):
    refresh = serializers.CharField()


# --- FileAgo ----------------------------------------------------------------------

class FileAgoAuthSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=254, help_text="E-mail address, or `admin`.")
    password = serializers.CharField(write_only=True, max_length=128)


class AppPasswordSerializer(serializers.ModelSerializer):
    """An app password as listed: never its secret."""

    id = serializers.UUIDField(source="uuid")
    prefix = serializers.CharField(help_text="The secret's first 8 characters, to tell passwords apart.")
    createdAt = serializers.DateTimeField(source="created_at")
    lastUsedAt = serializers.DateTimeField(source="last_used_at", allow_null=True)

    class Meta:
        model = AppPassword
        fields = ["id", "name", "prefix", "createdAt", "lastUsedAt"]


class AppPasswordCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100, help_text="The device or program it is for, e.g. \"Laptop rclone\".")


class AppPasswordCreatedSerializer(AppPasswordSerializer):
    password = serializers.CharField(help_text="The secret: shown in this answer only. Sign in over HTTP Basic "
                                               "with your username (or e-mail or phone) and this password.")
    login = serializers.CharField(help_text="The sign-in name to use with it (your username).")

    class Meta(AppPasswordSerializer.Meta):
        fields = AppPasswordSerializer.Meta.fields + ["password", "login"]
