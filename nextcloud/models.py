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


class FileChecksum(models.Model):
    """The checksum a Nextcloud client sent and the server verified (OC-Checksum), kept
    for the content it came with, as FileMtime is."""

    node = models.OneToOneField("folders.Node", on_delete=models.CASCADE, related_name="+", primary_key=True)
    version = models.PositiveIntegerField()
    checksum = models.CharField(max_length=80, help_text="ALGORITHM:hex, as the client sent it.")


class ChunkedUpload(models.Model):
    """A Nextcloud client's upload folder (`/remote.php/dav/uploads/{user}/{id}`): the
    client's name for it and the upload session of the engine that holds its chunks.
    `numbered` says which chunk names it takes: numbers (chunking v2, opened with a
    Destination), or also the older names that give a chunk's first byte;
    `chunk_names` the names the chunks came with (a client resumes by them)."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    transfer_id = models.CharField(max_length=255)
    session = models.OneToOneField("files.UploadSession", on_delete=models.CASCADE, related_name="+")
    numbered = models.BooleanField(default=True)
    chunk_names = models.JSONField(default=dict, blank=True, help_text="{part number: the chunk's name}")
    # The running OC-Checksum hashes of the bytes 0..hashed_bytes ({algorithm: state in
    # hex}), carried on by each chunk that arrives in order; empty when they broke off.
    hash_states = models.JSONField(default=dict, blank=True)
    hashed_bytes = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["owner", "transfer_id"],
                                               name="%(app_label)s_%(class)s_one_per_id")]
