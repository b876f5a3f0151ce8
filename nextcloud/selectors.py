"""What the Nextcloud dialect reads: the server's version and capabilities, a user's
profile and quota in Nextcloud's shapes."""

import functools
import hashlib
from datetime import timedelta

from django.conf import settings
from django.db import connection
from django.db.models import F, FloatField, Func, OuterRef, Subquery, Sum
from django.db.models.functions import Coalesce

from dav import selectors as dav_selectors
from files import selectors as files_selectors
from files.models import FileVersion, ShareLink
from folders.models import Node, Star
from previews.models import PreviewStatus, PreviewType

from .models import FileChecksum, FileMtime

# A current Nextcloud major: clients check it to choose what they may use.
VERSION = (32, 0, 3, 2)
VERSION_STRING = ".".join(map(str, VERSION[:3]))
PRODUCT_NAME = "Stratus"


def server_status() -> dict:
    return {"installed": True, "maintenance": False, "needsDbUpgrade": False,
            "version": ".".join(map(str, VERSION)), "versionstring": VERSION_STRING, "edition": "",
            "productname": PRODUCT_NAME, "extendedSupport": False}


def capabilities() -> dict:
    """Only what works: a client that reads a capability uses it (see docs/nextcloud.md)."""
    major, minor, micro, _ = VERSION
    return {
        "version": {"major": major, "minor": minor, "micro": micro, "string": VERSION_STRING, "edition": "",
                    "extendedSupport": False},
        "capabilities": {
            "core": {"pollinterval": 60, "webdav-root": "remote.php/webdav"},
            "files": {"bigfilechunking": True, "undelete": True, "versioning": True, "favorites": True},
            # Chunked upload v2 (/remote.php/dav/uploads/), on the upload engine.
            "dav": {"chunking": "1.0"},
            # OC-Checksum: those verified on a PUT and a chunked upload's MOVE (MD5 only on a
            # PUT). The desktop app hashes every file it uploads or downloads with the preferred
            # one, on one core: Adler-32 costs it next to nothing, SHA-256 more than the
            # transfer. It only guards the transfer and marks the app's journal; the server
            # keeps its own SHA-256 of every file (first in oc:checksums, the one the app
            # compares when it looks for a conflict).
            "checksums": {"supportedTypes": ["Adler32", "SHA1", "SHA256"], "preferredUploadType": "Adler32"},
            # Public links to files, read-only, with an optional password and expiry date.
            "files_sharing": {
                "api_enabled": True, "resharing": False, "group_sharing": False, "sharebymail": {"enabled": False},
                "user": {"send_mail": False, "expire_date": {"enabled": False}},
                "public": {"enabled": True, "multiple_links": True, "upload": False, "upload_files_drop": False,
                           "send_mail": False, "password": {"enforced": False, "askForOptionalPassword": False},
                           "expire_date": {"enabled": True, "enforced": False}},
            },
            "theming": {"name": PRODUCT_NAME, "productName": PRODUCT_NAME},
        },
    }


def user_quota(user) -> dict:
    """Nextcloud's quota object from the figures of the storage-stats endpoint:
    `used` and `free` (= its `available`: quota less used and held), `quota` and
    `total` its quota."""
    stats = files_selectors.usage(user)
    quota = stats["quota"]
    return {"free": stats["available"], "used": stats["used"], "total": quota, "quota": quota,
            "relative": round(100 * stats["used"] / quota, 2) if quota else 0}


def user_profile(user) -> dict:
    """`cloud/user` and `cloud/users/{id}`: the id is the username, the one every
    Nextcloud path names the user by."""
    name = user.full_name or user.username
    return {"enabled": user.is_active, "id": user.username, "displayname": name, "display-name": name,
            "email": user.email or "", "phone": user.phone or "", "address": "", "website": "", "twitter": "",
            "groups": [], "subadmin": [], "language": "", "locale": "", "backend": "Database",
            "lastLogin": 0, "quota": user_quota(user),
            "backend_capabilities": {"setDisplayName": False, "setPassword": False}}


# --- the tree, in Nextcloud's properties --------------------------------------------------------

def instance_id() -> str:
    """Nextcloud's instance id (`oc` and 10 characters), the tail of every `oc:id`."""
    return _instance_id(settings.SECRET_KEY)


@functools.cache
def _instance_id(secret_key: str) -> str:  # once, not for every entry of a listing
    return "oc" + hashlib.sha256(b"nextcloud-instance\0" + secret_key.encode()).hexdigest()[:10]


def file_id(node_pk: int) -> str:
    """`oc:id`: the file id zero-padded to 8 digits, then the instance id, as Nextcloud writes it."""
    return f"{node_pk:08d}{instance_id()}"


def _about(node, parent, nodes=None) -> dict:
    if nodes is not None:
        return {"node__in": nodes}
    return {"node": node} if node is not None else {"node__parent": parent, "node__trashed_at__isnull": True}


def favorites(*, user, node=None, parent=None, nodes=None) -> set[int]:
    """Which node (`node`, or the entries of `parent`) the user starred: `oc:favorite`,
    the same flag as a star in the other APIs."""
    return set(Star.objects.filter(user=user, **_about(node, parent, nodes)).values_list("node_id", flat=True))


def shared_by_link(*, node=None, parent=None, nodes=None) -> set[int]:
    """Which file (`node`, or the entries of `parent`) has a live public link (`oc:share-types` 3)."""
    return set(ShareLink.objects.filter(revoked_at__isnull=True, **_about(node, parent, nodes))
               .values_list("node_id", flat=True))


def with_thumbnail(*, node=None, parent=None, nodes=None) -> set[int]:
    """Which file (`node`, or the entries of `parent`) has a thumbnail ready for its
    current content (`nc:has-preview`)."""
    return set(FileVersion.objects.filter(number=F("node__version"), **_about(node, parent, nodes),
                                          blob__previews__preview_type=PreviewType.THUMBNAIL,
                                          blob__previews__status=PreviewStatus.READY)
               .values_list("node_id", flat=True))


_FOLDER_SIZES = """
    SELECT f.id, COALESCE(SUM(n.size), 0)
    FROM folders_node f
    LEFT JOIN folders_node n ON n.owner_id = f.owner_id AND n.path LIKE f.path || '%%'
         AND n.kind = 'file' AND n.trashed_at IS NULL
    WHERE {where}
    GROUP BY f.id
"""


def folder_sizes(*, folder=None, parent=None, nodes=None) -> dict[int, int]:
    """{folder id: bytes of the live files below it, at any depth} (`oc:size`) of one
    folder, of every live folder in `parent`, or of the folders among `nodes`, in one query."""
    where, params = dav_selectors.folders_where(folder=folder, parent=parent, nodes=nodes)
    with connection.cursor() as cursor:
        cursor.execute(_FOLDER_SIZES.format(where=where), params)
        return {pk: int(size) for pk, size in cursor.fetchall()}


def client_mtimes(*, node=None, parent=None, nodes=None) -> dict[int, float]:
    """{file id: the modification time its client gave} of one file or the entries of
    `parent`, for content that has not changed since (X-OC-Mtime)."""
    return dict(FileMtime.objects.filter(version=F("node__version"), **_about(node, parent, nodes))
                .values_list("node_id", "mtime"))


class _Epoch(Func):
    """A date-time column as seconds since 1970."""

    output_field = FloatField()

    def as_postgresql(self, compiler, connection, **extra):
        return self.as_sql(compiler, connection, template="EXTRACT(EPOCH FROM %(expressions)s)", **extra)

    def as_sqlite(self, compiler, connection, **extra):
        # julianday keeps the fraction of a second (strftime's %s would not)
        return self.as_sql(compiler, connection, template="((JULIANDAY(%(expressions)s) - 2440587.5) * 86400.0)",
                           **extra)


def modified_seconds():
    """What `getlastmodified` shows, as seconds since 1970, for filtering and ordering
    in the database: the time a client gave the current content (X-OC-Mtime), else
    the entry's own."""
    given = FileMtime.objects.filter(node=OuterRef("pk"), version=OuterRef("version")).values("mtime")[:1]
    return Coalesce(Subquery(given, output_field=FloatField()), _Epoch("updated_at"))


def content_facts(*, node) -> tuple[float | None, str | None]:
    """(X-OC-Mtime, OC-Checksum) kept for one file's current content, in one query: what
    a GET answers beside the bytes (Last-Modified, OC-Checksum)."""
    kept = {"node": node, "version": node.version}
    row = Node.objects.filter(pk=node.pk).values_list(
        Subquery(FileMtime.objects.filter(**kept).values("mtime")[:1], output_field=FloatField()),
        Subquery(FileChecksum.objects.filter(**kept).values("checksum")[:1])).first()
    return row if row is not None else (None, None)


def client_checksums(*, node=None, parent=None, nodes=None) -> dict[int, str]:
    """{file id: the checksum its client sent and the server verified} of one file or the
    entries of `parent`, for content that has not changed since (OC-Checksum)."""
    return dict(FileChecksum.objects.filter(version=F("node__version"), **_about(node, parent, nodes))
                .values_list("node_id", "checksum"))


def own_file(*, user, file_id: int | None = None, path: str | None = None):
    """The user's live file by `oc:fileid` or by path below their home; None otherwise
    (another user's file is exactly a made-up one)."""
    if path is not None:
        node = dav_selectors.node_at(user=user, names=[name for name in path.split("/") if name])
        return node if node is not None and not node.is_folder else None
    return Node.objects.for_owner(user).live().files().filter(pk=file_id).first()


def home_paths(nodes) -> dict[int, str]:
    """{node id: its path below its owner's home folder, `a/b/name`} for many nodes
    (live or trashed), in one query."""
    ancestors = {pk for node in nodes for pk in node.ancestor_ids}
    names = dict(Node.objects.filter(pk__in=ancestors, parent__isnull=False).values_list("pk", "name"))
    return {node.pk: "/".join([names[pk] for pk in node.ancestor_ids if pk in names] + [node.name])
            for node in nodes}


# --- share links, in the OCS Share API's shape ----------------------------------------------------

def shares_of(*, user, node=None):
    """The user's live public links (not revoked, their file not in the trash)."""
    links = ShareLink.objects.for_owner(user).select_related("node").filter(revoked_at__isnull=True,
                                                                          node__trashed_at__isnull=True)
    return links.filter(node=node) if node is not None else links


def _home_path(node) -> str:
    """A node's path below its owner's home folder, as Nextcloud names it: /a/b.txt."""
    return "/" + home_paths([node])[node.pk]


def share_data(request, link) -> dict:
    node, owner = link.node, link.created_by
    name = owner.full_name or owner.username
    path = _home_path(node)
    return {
        "id": str(link.pk), "share_type": 3, "uid_owner": owner.username, "displayname_owner": name,
        "uid_file_owner": owner.username, "displayname_file_owner": name, "permissions": 1,
        "can_edit": True, "can_delete": True, "stime": int(link.created_at.timestamp()), "parent": None,
        # Nextcloud names the last day a link works, at midnight.
        "expiration": (link.expires_at - timedelta(seconds=1)).strftime("%Y-%m-%d 00:00:00")
        if link.expires_at else None,
        "token": link.token, "note": "", "label": "", "path": path, "item_type": "file",
        "mimetype": node.mime_type or "application/octet-stream", "item_source": node.pk, "file_source": node.pk,
        "file_parent": node.parent_id, "file_target": "/" + node.name, "item_size": node.size,
        "item_mtime": int(node.updated_at.timestamp()), "storage_id": f"home::{owner.username}",
        "share_with": None, "share_with_displayname": "(Shared link)" if not link.has_password else "",
        "password": None, "send_password_by_talk": False, "hide_download": 0, "mail_send": 0,
        "url": request.build_absolute_uri(f"/s/{link.token}"), "attributes": None,
    }


def trash_sizes(*, user, batches) -> dict:
    """{trash batch: bytes of its files} for the given deletes, in one query (`oc:size`
    of a deleted folder)."""
    rows = (Node.objects.for_owner(user).files().filter(trash_batch__in=batches)
            .values("trash_batch").annotate(total=Sum("size")).values_list("trash_batch", "total"))
    return {batch: total or 0 for batch, total in rows}
