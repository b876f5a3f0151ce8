from django.apps import AppConfig


class DavConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "dav"
    verbose_name = "WebDAV"
