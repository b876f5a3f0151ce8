import logging

from django.apps import AppConfig


class _StreamedAnswers(logging.Filter):
    """WsgiDAV calls any answer without a Content-Length an error; a streamed
    multistatus has none, by design (the server sends it chunked)."""

    def filter(self, record):
        return not record.getMessage().startswith("Missing required Content-Length header in 207-response")


class DavConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "dav"
    verbose_name = "WebDAV"

    def ready(self):
        logging.getLogger("wsgidav.wsgidav_app").addFilter(_StreamedAnswers())
