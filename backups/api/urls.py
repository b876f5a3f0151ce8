"""Every route of the backups app, grouped by surface."""

from django.urls import path

from . import mobile, views

app_name = "backups"

# LayoodStorage: devices and auto-backup.
primary = [
    path("api/devices/register", views.DeviceRegisterView.as_view(), name="device-register"),
    path("api/devices", views.DeviceListView.as_view(), name="device-list"),
    path("api/devices/<str:id>/settings", views.DeviceSettingsView.as_view(), name="device-settings"),
    path("api/devices/<str:id>", views.DeviceRemoveView.as_view(), name="device-remove"),
    path("api/backup/start", views.BackupStartView.as_view(), name="backup-start"),
    path("api/backup/upload", views.BackupUploadView.as_view(), name="backup-upload"),
    path("api/backup/check", views.BackupCheckView.as_view(), name="backup-check"),
    path("api/backup/complete", views.BackupCompleteView.as_view(), name="backup-complete"),
    path("api/backup/session/<str:id>/logs", views.BackupLogsView.as_view(), name="backup-logs"),
    path("api/backup/analytics", views.BackupAnalyticsView.as_view(), name="backup-analytics"),
    path("api/backup/contacts", views.ContactsView.as_view(), name="backup-contacts"),
    path("api/backup/contacts/<str:id>/download", views.ContactsDownloadView.as_view(), name="contacts-download"),
]

admin_routes = [
    path("api/admin/backup/overview", views.AdminBackupOverviewView.as_view(), name="admin-backup-overview"),
]

# MegaVault: device sign-in, devices, push. Chunked uploads are in the files app.
mobile_routes = [
    path("api/mobile/auth/register", mobile.MobileRegisterView.as_view(), name="mv-auth-register"),
    path("api/mobile/auth/refresh", mobile.MobileRefreshView.as_view(), name="mv-auth-refresh"),
    path("api/mobile/devices", mobile.DeviceListView.as_view(), name="mv-devices"),
    path("api/mobile/devices/<str:device_id>/settings", mobile.DeviceSettingsView.as_view(),
         name="mv-device-settings"),
    path("api/mobile/devices/<str:device_id>", mobile.DeviceDetailView.as_view(), name="mv-device"),
    path("api/mobile/notifications/register", mobile.PushRegisterView.as_view(), name="mv-push-register"),
]

urlpatterns = primary + admin_routes + mobile_routes
