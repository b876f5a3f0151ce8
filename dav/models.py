"""What WebDAV keeps besides the tree: dead properties (PROPPATCH) and locks.

Both live in the database, so every worker process sees the same locks and a
property follows its node through renames and moves.
"""

from django.conf import settings
from django.db import models

from folders.models import Node


class DeadProperty(models.Model):
    """A property a client set with PROPPATCH, kept as the XML it sent."""

    node = models.ForeignKey(Node, on_delete=models.CASCADE, related_name="dav_properties")
    name = models.CharField(max_length=500, help_text="Clark notation: {namespace}name.")
    value = models.TextField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["node", "name"], name="%(app_label)s_%(class)s_unique")]

    def __str__(self) -> str:
        return self.name


class Lock(models.Model):
    """A WebDAV write lock on a path of one user's tree (WsgiDAV's lock dictionary)."""

    token = models.CharField(max_length=100, unique=True)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="dav_locks")
    root = models.TextField(help_text="The locked path, normalised, without a trailing slash.")
    depth = models.CharField(max_length=10)
    scope = models.CharField(max_length=10)
    type = models.CharField(max_length=10)
    principal = models.CharField(max_length=200, blank=True)
    owner_xml = models.TextField(blank=True, help_text="The <owner> element the client sent.")
    timeout = models.FloatField()
    expire = models.FloatField(help_text="Seconds since the epoch; negative = never.")

    class Meta:
        indexes = [models.Index(fields=["owner", "expire"], name="dav_lock_owner")]

    def __str__(self) -> str:
        return f"{self.scope} lock on {self.root}"
