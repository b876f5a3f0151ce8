from django.apps import AppConfig


class DashboardsConfig(AppConfig):
    """Cross-app dashboards, analytics and the admin API: reads over every app."""

    name = "storage_site.dashboards"
    label = "dashboards"
