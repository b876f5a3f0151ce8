"""Shapes of the dashboard, analytics and admin API answers (camelCase, bytes as integers).

Views pass the selectors' dicts through these, so the OpenAPI schema and the
answers cannot drift apart."""

from rest_framework import serializers

from accounts.api.serializers import UserSerializer
from accounts.models import Role, User
from folders.api.serializers import NodeSerializer
from folders.models import Category
from storage_site.core.fields import IntegerField

CATEGORIES = [value for value in Category.values if value != Category.FOLDER]
HEALTH_STATUSES = ["ok", "error", "not configured"]


class DaysQuerySerializer(serializers.Serializer):
    days = IntegerField(min_value=1, max_value=366, default=30,
                                    help_text="How many days back, today included (1–366).")


class AnalyticsQuerySerializer(DaysQuerySerializer):
    top = IntegerField(min_value=1, max_value=100, default=10, help_text="How many users in `byUser`.")


# --- building blocks ------------------------------------------------------------------

class CategoryUsageSerializer(serializers.Serializer):
    category = serializers.ChoiceField(CATEGORIES)
    files = serializers.IntegerField(help_text="Live files.")
    bytes = serializers.IntegerField(help_text="Size of their current versions.")


class DayUsageSerializer(serializers.Serializer):
    date = serializers.DateField()
    files = serializers.IntegerField(help_text="File versions created that day (uploads, new versions, copies).")
    bytes = serializers.IntegerField()


class UserGrowthDaySerializer(DayUsageSerializer):
    totalBytes = serializers.IntegerField(help_text="Cumulative logical bytes at the end of the day.")


class GrowthDaySerializer(UserGrowthDaySerializer):
    storedBytes = serializers.IntegerField(help_text="New physical bytes (distinct contents) that day.")
    totalStoredBytes = serializers.IntegerField(help_text="Cumulative physical bytes at the end of the day.")


class NodeTotalsSerializer(serializers.Serializer):
    files = serializers.IntegerField()
    bytes = serializers.IntegerField(help_text="Current versions of live files.")
    folders = serializers.IntegerField()
    trashedEntries = serializers.IntegerField(help_text="Entries in the trash (a deleted folder is one).")
    trashedFiles = serializers.IntegerField()


class UserTotalsSerializer(serializers.Serializer):
    total = serializers.IntegerField(help_text="People; group storage accounts are not counted.")
    active = serializers.IntegerField()
    admins = serializers.IntegerField()
    clients = serializers.IntegerField()
    newLast7Days = serializers.IntegerField()
    overQuota = serializers.IntegerField(help_text="Accounts storing more than their quota (after a quota cut).")
    quotaBytes = serializers.IntegerField()
    usedBytes = serializers.IntegerField()
    reservedBytes = serializers.IntegerField(help_text="Held for uploads in progress.")


class StorageTotalsSerializer(serializers.Serializer):
    versions = serializers.IntegerField()
    logicalBytes = serializers.IntegerField(help_text="Every version of every file, trash included.")
    objects = serializers.IntegerField(help_text="Distinct contents (blobs) in the bucket.")
    storedBytes = serializers.IntegerField(help_text="Physical bytes: each distinct content once.")
    unreferenced = serializers.IntegerField(help_text="Blobs waiting for garbage collection.")
    dedupSavedBytes = serializers.IntegerField()


class UploadsOpenSerializer(serializers.Serializer):
    open = serializers.IntegerField(help_text="Chunked uploads in progress or being assembled.")
    reservedBytes = serializers.IntegerField()


class PlanCountSerializer(serializers.Serializer):
    plan = serializers.CharField()
    users = serializers.IntegerField()
    usedBytes = serializers.IntegerField()


class TopUserSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    username = serializers.CharField()
    email = serializers.EmailField(allow_null=True)
    phone = serializers.CharField(allow_null=True)
    role = serializers.ChoiceField(Role.choices)
    plan = serializers.CharField()
    isGroupAccount = serializers.BooleanField()
    usedBytes = serializers.IntegerField()
    quotaBytes = serializers.IntegerField()
    usagePercent = serializers.FloatField()
    files = serializers.IntegerField()


class CheckSerializer(serializers.Serializer):
    status = serializers.ChoiceField(HEALTH_STATUSES)
    latencyMs = serializers.FloatField()
    detail = serializers.CharField(required=False)


class WorkersCheckSerializer(CheckSerializer):
    count = serializers.IntegerField(required=False)
    names = serializers.ListField(child=serializers.CharField(), required=False)


class HealthSerializer(serializers.Serializer):
    database = CheckSerializer()
    storage = CheckSerializer(help_text="S3: HEAD on the bucket; local: the media folder is writable.")
    broker = CheckSerializer(help_text="The Celery broker; `not configured` when tasks run in process.")
    workers = WorkersCheckSerializer(help_text="Celery workers answering a ping within a second.")


# --- admin users --------------------------------------------------------------------------

class AdminUserSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="uuid", read_only=True)
    fullName = serializers.CharField(source="full_name")
    isActive = serializers.BooleanField(source="is_active")
    isGroupAccount = serializers.BooleanField(source="is_group_account")
    storageQuota = serializers.IntegerField(source="storage_quota", help_text="Effective quota (bytes).")
    storageQuotaOverride = serializers.IntegerField(source="storage_quota_override", allow_null=True,
                                                    help_text="Set by an admin; wins over the plan. Null = plan.")
    planStorageQuota = serializers.IntegerField(source="plan_storage_quota", allow_null=True,
                                                help_text="The plan's quota; null = the default quota.")
    storageUsed = serializers.IntegerField(source="storage_used")
    storageReserved = serializers.IntegerField(source="storage_reserved")
    usagePercent = serializers.SerializerMethodField()
    deviceLimit = serializers.IntegerField(source="device_limit", allow_null=True)
    createdAt = serializers.DateTimeField(source="date_joined")
    lastLogin = serializers.DateTimeField(source="last_login", allow_null=True)

    class Meta:
        model = User
        fields = ["id", "username", "email", "phone", "fullName", "role", "isActive", "isGroupAccount", "plan",
                  "storageQuota", "storageQuotaOverride", "planStorageQuota", "storageUsed", "storageReserved",
                  "usagePercent", "deviceLimit", "createdAt", "lastLogin"]

    def get_usagePercent(self, user) -> float:
        return round(100.0 * user.storage_used / user.storage_quota, 2) if user.storage_quota else 0.0


class StorageQuotaSerializer(serializers.Serializer):
    storageQuota = IntegerField(
        allow_null=True, min_value=0, max_value=2**62,
        help_text="Bytes the user may store; null removes the override (back to the plan's quota).")

    def validate(self, attrs):
        if "storageQuota" not in self.initial_data:
            raise serializers.ValidationError({"storageQuota": "This field is required (null clears the override)."})
        return attrs


# --- answers ------------------------------------------------------------------------------

class AdminDashboardSystemSerializer(serializers.Serializer):
    users = UserTotalsSerializer()
    nodes = NodeTotalsSerializer()
    storage = StorageTotalsSerializer()
    uploads = UploadsOpenSerializer()


class AdminDashboardUsersSerializer(serializers.Serializer):
    byPlan = PlanCountSerializer(many=True)
    recent = AdminUserSerializer(many=True, help_text="Newest sign-ups.")
    topByUsage = TopUserSerializer(many=True)
    liveSessions = serializers.IntegerField()


class AdminDashboardFilesSerializer(serializers.Serializer):
    byCategory = CategoryUsageSerializer(many=True)
    uploadsPerDay = DayUsageSerializer(many=True, help_text="The last 14 days.")


class AdminDashboardSerializer(serializers.Serializer):
    system = AdminDashboardSystemSerializer()
    users = AdminDashboardUsersSerializer()
    files = AdminDashboardFilesSerializer()


class UsageSerializer(serializers.Serializer):
    quota = serializers.IntegerField()
    used = serializers.IntegerField(help_text="live + versions + trash")
    reserved = serializers.IntegerField()
    available = serializers.IntegerField()
    live = serializers.IntegerField()
    versions = serializers.IntegerField()
    trash = serializers.IntegerField()
    fileCount = serializers.IntegerField()
    usagePercent = serializers.FloatField()


class PersonalCountsSerializer(NodeTotalsSerializer):
    starred = serializers.IntegerField()
    activeShareLinks = serializers.IntegerField()


class ClientDashboardSerializer(serializers.Serializer):
    user = UserSerializer()
    storage = UsageSerializer()
    stats = PersonalCountsSerializer()
    byCategory = CategoryUsageSerializer(many=True)
    recentFiles = NodeSerializer(many=True)


class UsageAnalyticsSerializer(serializers.Serializer):
    days = serializers.IntegerField()
    totals = NodeTotalsSerializer()
    byType = CategoryUsageSerializer(many=True)
    overTime = UserGrowthDaySerializer(many=True)


class FolderInfoSerializer(serializers.Serializer):
    storageBackend = serializers.ChoiceField(["s3", "local"])
    bucket = serializers.CharField(allow_null=True, help_text="The S3 bucket; null with local storage.")
    keyPrefix = serializers.CharField(
        help_text="Where the user's objects live. Keys are content-addressed and shared by everyone "
                  "(`blobs/<2 hex>/<32 hex>`, never user names), so this prefix is not the user's alone.")
    userId = serializers.UUIDField()
    logicalRoot = serializers.CharField(help_text="The user's namespace in the API (their home folder), "
                                                  "not an S3 prefix.")
    objectCount = serializers.IntegerField(help_text="Distinct objects the user's file versions reference "
                                                     "(trash and old versions included).")
    objectBytes = serializers.IntegerField(help_text="Their size; an object shared with others counts in full.")
    versionCount = serializers.IntegerField()
    logicalBytes = serializers.IntegerField(help_text="The bytes charged to the user (what storage-stats calls "
                                                      "`used`, when the counters are in step).")


class SystemStatsSerializer(serializers.Serializer):
    users = UserTotalsSerializer()
    nodes = NodeTotalsSerializer()
    storage = StorageTotalsSerializer()
    uploads = UploadsOpenSerializer()
    health = HealthSerializer()
    healthy = serializers.BooleanField(help_text="True when no check is in error.")


class StorageAnalyticsSerializer(serializers.Serializer):
    days = serializers.IntegerField()
    totals = StorageTotalsSerializer()
    users = UserTotalsSerializer()
    byType = CategoryUsageSerializer(many=True)
    byUser = TopUserSerializer(many=True)
    growth = GrowthDaySerializer(many=True)
