from django.conf import settings
from django.db import models


class LoginFlow(models.Model):
    """A Login Flow v2 in progress: a client waits (polling with `poll_token`) while a
    person signs in at the page named by `login_token` and grants it access. Both
    tokens are kept as SHA-256: they are secrets only their holders know. No app
    password exists until the client collects it, so none is ever stored readable."""

    login_token_hash = models.CharField(max_length=64, unique=True)
    poll_token_hash = models.CharField(max_length=64, unique=True)
    client_name = models.CharField(max_length=100)
    created_at = models.DateTimeField(auto_now_add=True)
    granted_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE,
                                   related_name="+")


class FileMtime(models.Model):
    """The modification time a Nextcloud client gave a file's content (X-OC-Mtime), which
    it compares with its own copy's. It holds for the content it came with: a new
    version from anywhere else makes it stale, and the entry's own time shows again."""

    node = models.OneToOneField("folders.Node", on_delete=models.CASCADE, related_name="+", primary_key=True)
    version = models.PositiveIntegerField()
    mtime = models.FloatField(help_text="Seconds since 1970.")
