"""The namespace: one tree of nodes per owner. A node is a folder or a file entry.

The tree keeps a materialised path (`/12/40/97/`, the ids from the home folder
down to the node itself), so breadcrumbs, subtree size, subtree move and delete,
and cycle checks are single queries. Bytes and versions of file nodes live in the
files app (`files.FileVersion`, `files.Blob`).
"""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q


class NodeKind(models.TextChoices):
    FOLDER = "folder", "Folder"
    FILE = "file", "File"


class Category(models.TextChoices):
    """What a file is, for filters and search (from its MIME type)."""

    FOLDER = "folder", "Folder"
    IMAGE = "image", "Image"
    VIDEO = "video", "Video"
    AUDIO = "audio", "Audio"
    DOCUMENT = "document", "Document"
    ARCHIVE = "archive", "Archive"
    OTHER = "other", "Other"


class Special(models.TextChoices):
    """Top-level folders of an owner that are not inside home."""

    HOME = "home", "Home"
    INCOMING = "incoming", "Incoming"


class NodeQuerySet(models.QuerySet):
    def for_owner(self, user):
        return self.filter(owner=user)

    def live(self):
        return self.filter(trashed_at__isnull=True)

    def files(self):
        return self.filter(kind=NodeKind.FILE)

    def folders(self):
        return self.filter(kind=NodeKind.FOLDER)

    def subtree(self, node: "Node"):
        """The node and everything below it."""
        return self.filter(owner_id=node.owner_id, path__startswith=node.path)


class Node(models.Model):
    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="nodes")
    kind = models.CharField(max_length=10, choices=NodeKind.choices)
    # Null only for an owner's top-level folders (home, incoming): the roots of their trees.
    parent = models.ForeignKey("self", on_delete=models.CASCADE, null=True, blank=True, related_name="children")
    special = models.CharField(max_length=10, choices=Special.choices, blank=True)
    name = models.CharField(max_length=255)
    path = models.TextField(default="", editable=False, help_text="Ids from the home folder down: /1/5/9/")
    depth = models.PositiveSmallIntegerField(default=0)
    description = models.TextField(blank=True)
    # A capability: whoever holds it may read this node (StreamVault links, QR codes). Rotatable.
    token = models.CharField(max_length=64, unique=True, null=True, blank=True, editable=False)

    # File nodes: the current version, denormalised so lists need no join.
    size = models.BigIntegerField(default=0)
    mime_type = models.CharField(max_length=255, blank=True)
    category = models.CharField(max_length=10, choices=Category.choices, default=Category.FOLDER)
    version = models.PositiveIntegerField(default=0, help_text="Number of the current version.")
    sha256 = models.CharField(max_length=64, blank=True)
    metadata = models.JSONField(default=dict, blank=True)

    # Trash: a delete marks the node and its subtree with one batch id; the node the
    # user deleted is the batch's origin, the one shown in the trash and restored.
    trashed_at = models.DateTimeField(null=True, blank=True)
    trash_batch = models.UUIDField(null=True, blank=True)
    trash_origin = models.BooleanField(default=False)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = NodeQuerySet.as_manager()

    class Meta:
        ordering = ["kind", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["parent", "name"],
                condition=Q(trashed_at__isnull=True, parent__isnull=False),
                name="%(app_label)s_%(class)s_unique_live_sibling_name",
            ),
            models.UniqueConstraint(
                fields=["owner", "special"], condition=Q(parent__isnull=True),
                name="%(app_label)s_%(class)s_one_root_of_each_kind",
            ),
            models.CheckConstraint(
                condition=Q(parent__isnull=False) | Q(kind=NodeKind.FOLDER),
                name="%(app_label)s_%(class)s_home_is_a_folder",
            ),
        ]
        indexes = [
            # A folder's live entries in name order, owner last so counts and pages are index-only scans.
            models.Index(fields=["parent", "kind", "name", "id", "owner"], condition=Q(trashed_at__isnull=True),
                         name="folders_node_children"),
            # All of an owner's live entries in name order: file lists across folders and searches for
            # common terms walk it (kind and category for the type filters, without visiting rows).
            models.Index(fields=["owner", "name", "id", "kind", "category"],
                         condition=Q(trashed_at__isnull=True, parent__isnull=False), name="folders_node_owner_name"),
            models.Index(fields=["owner", "kind", "trashed_at", "created_at"], name="folders_node_owner_kind"),
            models.Index(fields=["owner", "trash_batch"], name="folders_node_trash_batch"),
            models.Index(fields=["owner", "sha256"], name="folders_node_owner_sha256"),
        ]

    def __str__(self) -> str:
        return self.name or "Home"

    @property
    def is_folder(self) -> bool:
        return self.kind == NodeKind.FOLDER

    @property
    def is_home(self) -> bool:
        return self.parent_id is None and self.special == Special.HOME

    @property
    def is_root(self) -> bool:
        return self.parent_id is None

    @property
    def ancestor_ids(self) -> list[int]:
        """Ids from the home folder down to the parent."""
        return [int(part) for part in self.path.strip("/").split("/")[:-1] if part]


class Star(models.Model):
    """A favourite, per user."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="stars")
    node = models.ForeignKey(Node, on_delete=models.CASCADE, related_name="stars")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "node"], name="%(app_label)s_%(class)s_unique")]


class ChangeAction(models.TextChoices):
    CREATE = "create", "Created"
    UPDATE = "update", "Updated (new content)"
    RENAME = "rename", "Renamed"
    MOVE = "move", "Moved"
    TRASH = "trash", "Moved to trash"
    RESTORE = "restore", "Restored"
    PURGE = "purge", "Deleted for good"


class Change(models.Model):
    """The change journal: one row per change of a node.

    `seq` numbers an owner's rows 1, 2, 3, ... in commit order: a row gets the next
    number only once every earlier row of its owner is committed (journal_record), so
    a reader that has seen `seq` n has seen everything up to n. Sync cursors are these
    numbers, never clock times. `id` is global and may commit out of order."""

    id = models.BigAutoField(primary_key=True)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="changes")
    seq = models.BigIntegerField(help_text="Position in the owner's journal: 1, 2, 3, ... without gaps.")
    node_uuid = models.UUIDField()
    kind = models.CharField(max_length=10, choices=NodeKind.choices)
    action = models.CharField(max_length=10, choices=ChangeAction.choices)
    name = models.CharField(max_length=255)
    parent_uuid = models.UUIDField(null=True, blank=True)
    size = models.BigIntegerField(default=0)
    version = models.PositiveIntegerField(default=0)
    sha256 = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            # Also the cursor index: a delta is one range scan of (owner, seq).
            models.UniqueConstraint(fields=["owner", "seq"], name="%(app_label)s_%(class)s_owner_seq"),
        ]

    def __str__(self) -> str:
        return f"#{self.seq} {self.action} {self.name}"
