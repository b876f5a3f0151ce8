"""Every route of the dashboards app: the primary API's dashboards, analytics and
admin endpoints (LayoodStorage), and the probes."""

from django.urls import path

from . import views

app_name = "dashboards"

primary = [
    path("api/dashboard/admin", views.AdminDashboardView.as_view(), name="admin-dashboard"),
    path("api/dashboard/client", views.ClientDashboardView.as_view(), name="client-dashboard"),
    path("api/analytics/usage", views.UsageAnalyticsView.as_view(), name="usage-analytics"),
    path("api/user/folder-info", views.FolderInfoView.as_view(), name="folder-info"),
    path("api/admin/users", views.AdminUserListView.as_view(), name="admin-users"),
    path("api/admin/users/<str:id>/storage", views.AdminUserStorageView.as_view(), name="admin-user-storage"),
    path("api/admin/system/stats", views.AdminSystemStatsView.as_view(), name="admin-system-stats"),
    path("api/admin/storage-analytics", views.AdminStorageAnalyticsView.as_view(), name="admin-storage-analytics"),
]

probes = [
    path("healthz", views.healthz, name="healthz"),
    path("readyz", views.readyz, name="readyz"),
]

urlpatterns = primary + probes
