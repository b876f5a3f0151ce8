from django.apps import AppConfig


class NextcloudConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "nextcloud"
    verbose_name = "Nextcloud dialect"
