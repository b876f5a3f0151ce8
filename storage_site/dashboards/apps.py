from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class DashboardsConfig(AppConfig):
    """Cross-app dashboards, analytics, the admin API and the operators' tools: reads over every app."""

    name = "storage_site.dashboards"
    label = "dashboards"

    def ready(self):
        from storage_site.core.logging import connect_celery_signals

        connect_celery_signals()


class OperatorsAdminConfig(admin_apps.AdminConfig):
    """Django's admin with the operators' site: the same admin plus a dashboard page
    (settings put this in place of "django.contrib.admin")."""

    default = False  # named explicitly in INSTALLED_APPS; DashboardsConfig stays this module's default
    default_site = "storage_site.dashboards.admin_site.OperatorsAdminSite"
