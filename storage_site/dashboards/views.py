"""Dashboards, analytics and the admin API of LayoodStorage, plus the
probes `/healthz` and `/readyz`.

Admin endpoints need the admin role (a client gets 403 `INSUFFICIENT_ROLE`);
personal ones show the signed-in user's own data only."""

import uuid

from django.db.models import Q
from django.http import JsonResponse
from django_filters import rest_framework as filters
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.permissions import IsAuthenticated

from accounts import services as accounts
from accounts.models import Role, User
from accounts.permissions import IsAdminRole, IsClientRole
from files import selectors as files
from storage_site.core.api import PRIMARY_ERRORS, ErrorEnvelopeSerializer, PrimaryListView, PrimaryView, envelope, ok
from storage_site.core.exceptions import NotFound
from storage_site.core.fields import int_schema

from . import health, selectors
from . import serializers as s

ERRORS = {**PRIMARY_ERRORS, 403: ErrorEnvelopeSerializer}
ADMIN = "admin"
ANALYTICS = "analytics"


def _query(serializer_class, request) -> dict:
    query = serializer_class(data=request.query_params)
    query.is_valid(raise_exception=True)
    return query.validated_data


def _days_parameter(default: int = 30):
    return OpenApiParameter("days", int_schema(min_value=1, max_value=366), description=f"Days back, today included (1–366, default {default}).")


# --- dashboards -------------------------------------------------------------------------

class AdminDashboardView(PrimaryView):
    permission_classes = [IsAdminRole]

    @extend_schema(tags=["dashboard"], responses={200: envelope("AdminDashboardResponse", s.AdminDashboardSerializer()),
                                                  **ERRORS},
                   summary="Admin dashboard",
                   description="System stats (users, files, storage, open uploads), a user summary (by plan, "
                               "newest, biggest, live sessions) and file analytics (by type, uploads over the "
                               "last 14 days). Admin role only.")
    def get(self, request):
        data = {
            "system": {"users": selectors.user_totals(), "nodes": selectors.node_totals(),
                       "storage": selectors.storage_totals(), "uploads": selectors.uploads_open()},
            "users": {"byPlan": selectors.users_by_plan(), "recent": selectors.users_recent(5),
                      "topByUsage": selectors.users_top(5), "liveSessions": selectors.sessions_live_count()},
            "files": {"byCategory": selectors.by_category(), "uploadsPerDay": selectors.versions_per_day(days=14)},
        }
        return ok(s.AdminDashboardSerializer(data).data)


def _usage(user) -> dict:
    usage = files.usage(user)
    usage["usagePercent"] = round(100.0 * usage["used"] / usage["quota"], 2) if usage["quota"] else 0.0
    return usage


class ClientDashboardView(PrimaryView):
    permission_classes = [IsClientRole]

    @extend_schema(tags=["dashboard"], responses={200: envelope("ClientDashboardResponse", s.ClientDashboardSerializer()),
                                                  **ERRORS},
                   summary="Client dashboard",
                   description="The signed-in user's profile, storage usage, counts, usage by file type and the "
                               "10 newest files. Client role only.")
    def get(self, request):
        user = request.user
        data = {"user": User.objects.get(pk=user.pk), "storage": _usage(user),
                "stats": selectors.personal_counts(user), "byCategory": selectors.by_category(user),
                "recentFiles": selectors.recent_files(user, 10)}
        return ok(s.ClientDashboardSerializer(data, context={"request": request}).data)


# --- analytics --------------------------------------------------------------------------

class UsageAnalyticsView(PrimaryView):
    permission_classes = [IsAuthenticated]

    @extend_schema(tags=[ANALYTICS], parameters=[_days_parameter()],
                   responses={200: envelope("UsageAnalyticsResponse", s.UsageAnalyticsSerializer()), **ERRORS},
                   summary="My usage by file type and over time",
                   description="Live files and bytes per type (`Node.category`), and per day the file versions "
                               "added with the cumulative total (of what is still stored). The caller's own "
                               "data, whatever the role; admins see the system in `/api/admin/storage-analytics`.")
    def get(self, request):
        days = _query(s.DaysQuerySerializer, request)["days"]
        data = {"days": days, "totals": selectors.node_totals(request.user),
                "byType": selectors.by_category(request.user),
                "overTime": selectors.growth(days=days, owner=request.user)}
        return ok(s.UsageAnalyticsSerializer(data).data)


class FolderInfoView(PrimaryView):
    permission_classes = [IsAuthenticated]

    @extend_schema(tags=[ANALYTICS], responses={200: envelope("FolderInfoResponse", s.FolderInfoSerializer()), **ERRORS},
                   summary="Where my files are stored",
                   description="The bucket and what the user's files occupy in it. Stratus stores content "
                               "once, under random content-addressed keys shared by all users (`blobs/…`), so "
                               "there is no per-user S3 folder: `objectCount`/`objectBytes` are the distinct "
                               "objects the user's file versions reference, and `logicalRoot` names the user's "
                               "namespace in the API.")
    def get(self, request):
        return ok(s.FolderInfoSerializer(selectors.folder_info(request.user)).data)


# --- admin: users ------------------------------------------------------------------------

class AdminUserFilter(filters.FilterSet):
    q = filters.CharFilter(method="search", help_text="Part of the username, e-mail, phone or name.")
    role = filters.ChoiceFilter(choices=Role.choices)
    isActive = filters.BooleanFilter(field_name="is_active")
    isGroupAccount = filters.BooleanFilter(field_name="is_group_account")
    plan = filters.CharFilter(field_name="plan")
    ordering = filters.OrderingFilter(fields=(("date_joined", "createdAt"), ("storage_used", "storageUsed"),
                                              ("username", "username"), ("last_login", "lastLogin")))

    class Meta:
        model = User
        fields = []

    def search(self, queryset, name, value):
        value = value.strip()[:150]
        if not value:
            return queryset
        return queryset.filter(Q(username__icontains=value) | Q(email__icontains=value) | Q(phone__icontains=value)
                               | Q(full_name__icontains=value))


class AdminUserListView(PrimaryListView):
    permission_classes = [IsAdminRole]
    serializer_class = s.AdminUserSerializer
    filterset_class = AdminUserFilter

    def listing(self):
        return User.objects.order_by("-date_joined", "-pk")

    @extend_schema(tags=[ADMIN], summary="List users",
                   description="Every account with usage and limits. Paginated (`page`, `pageSize` ≤ 1000); "
                               "`q` searches username, e-mail, phone and name; filters `role`, `isActive`, "
                               "`plan`, `isGroupAccount`; `ordering` by createdAt, storageUsed, username, "
                               "lastLogin (`-` to reverse). Admin role only.")
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class AdminUserStorageView(PrimaryView):
    permission_classes = [IsAdminRole]

    @extend_schema(tags=[ADMIN], request=s.StorageQuotaSerializer,
                   parameters=[OpenApiParameter("id", OpenApiTypes.UUID, OpenApiParameter.PATH,
                                                description="User UUID")],
                   responses={200: envelope("AdminUserStorageResponse", s.AdminUserSerializer()), **ERRORS},
                   summary="Set a user's storage quota",
                   description="`{\"storageQuota\": bytes}` sets the admin's override, which wins over the "
                               "plan; `null` returns the user to their plan's quota. A quota below what the user "
                               "stores keeps their files and refuses new uploads. Admin role only.")
    def put(self, request, id):
        target = _user(id)
        payload = s.StorageQuotaSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        accounts.user_quota_override_set(user=target, storage_quota=payload.validated_data["storageQuota"])
        return ok(s.AdminUserSerializer(User.objects.get(pk=target.pk)).data, message="Storage quota updated")


def _user(raw_id) -> User:
    try:
        key = uuid.UUID(str(raw_id))
    except ValueError:
        raise NotFound("User not found.") from None
    found = User.objects.filter(uuid=key).first()
    if found is None:
        raise NotFound("User not found.")
    return found


# --- admin: system -----------------------------------------------------------------------

class AdminSystemStatsView(PrimaryView):
    permission_classes = [IsAdminRole]

    @extend_schema(tags=[ADMIN], responses={200: envelope("SystemStatsResponse", s.SystemStatsSerializer()), **ERRORS},
                   summary="System stats and health",
                   description="Users, files, bytes, open uploads, and the health of the database, the storage "
                               "(S3 bucket), the broker and the Celery workers (a ping with a short timeout; "
                               "`not configured` when tasks run in process). Admin role only.")
    def get(self, request):
        checks = health.system_health()
        data = {"users": selectors.user_totals(), "nodes": selectors.node_totals(),
                "storage": selectors.storage_totals(), "uploads": selectors.uploads_open(), "health": checks,
                "healthy": all(check["status"] != health.ERROR for check in checks.values())}
        return ok(s.SystemStatsSerializer(data).data)


class AdminStorageAnalyticsView(PrimaryView):
    permission_classes = [IsAdminRole]

    @extend_schema(tags=[ADMIN], parameters=[_days_parameter(), OpenApiParameter(
                       "top", int_schema(min_value=1, max_value=100), description="How many users in `byUser` (1–100, default 10).")],
                   responses={200: envelope("StorageAnalyticsResponse", s.StorageAnalyticsSerializer()), **ERRORS},
                   summary="System-wide storage analytics",
                   description="Totals (logical against physical bytes, dedup savings), usage by file type, the "
                               "biggest accounts, and growth per day (versions added, new physical bytes, "
                               "cumulative totals). Admin role only.")
    def get(self, request):
        query = _query(s.AnalyticsQuerySerializer, request)
        data = {"days": query["days"], "totals": selectors.storage_totals(), "users": selectors.user_totals(),
                "byType": selectors.by_category(), "byUser": selectors.users_top(query["top"]),
                "growth": selectors.growth(days=query["days"])}
        return ok(s.StorageAnalyticsSerializer(data).data)


# --- probes (plain Django views: no authentication, no envelope) -----------------------------

def healthz(request):
    """Alive: the process answers. Touches nothing else."""
    return JsonResponse({"status": "ok"})


def readyz(request):
    """Ready: the database, the storage and the broker answer; 503 naming what fails."""
    ready, checks = health.readiness()
    body = {"status": "ready" if ready else "unavailable", "checks": checks}
    if not ready:
        body["failing"] = [name for name, check in checks.items() if check["status"] == health.ERROR]
    return JsonResponse(body, status=200 if ready else 503)
