from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "storage_site.core"
    label = "core"
    verbose_name = "Stratus core"
