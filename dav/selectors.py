"""WebDAV reads: a path to a node, a folder's entries, folder etags, dead properties.

Each is one query whatever the size of a folder, so a PROPFIND costs the same few
queries for 10 entries or 10,000.
"""

import hashlib
import unicodedata
from collections import defaultdict

from django.db import connection
from django.db.models import Q

from folders import services as tree
from folders.models import Node

from .models import DeadProperty


def node_at(*, user, names: list[str], home: Node | None = None) -> Node | None:
    """The live node at `names` below the user's home folder (home itself for []), in one query
    (two without `home`)."""
    if any("\x00" in name for name in names):
        return None  # no name holds one (and PostgreSQL text cannot)
    home = home or tree.home_get(user=user)
    if not names:
        return home
    names = [unicodedata.normalize("NFC", name) for name in names]  # as names are stored ('é' sent as e + ◌́)
    match = Q()
    for level, name in enumerate(names, start=1):
        match |= Q(depth=home.depth + level, name=name)
    candidates = Node.objects.for_owner(user).live().filter(match, path__startswith=home.path)
    by_parent = {(n.parent_id, n.name): n for n in candidates}
    node = home
    for name in names:
        node = by_parent.get((node.pk, name))
        if node is None:
            return None
    return node


# The columns WebDAV shows or needs to write; a listing loads these and nothing else.
SHOWN_FIELDS = ("id", "uuid", "owner_id", "kind", "parent_id", "special", "name", "path", "depth", "size",
                "mime_type", "version", "sha256", "trashed_at", "created_at", "updated_at")


def children_of(folder: Node) -> list[Node]:
    return list(Node.objects.live().filter(parent=folder).only(*SHOWN_FIELDS).order_by("name", "pk"))


# What a folder's etag is made of, over everything below it: how many live entries,
# the sum of their ids and of their sizes, the latest change of a live one and the
# latest move to the trash. A create, a trash, a rename, a move in or out and a new
# version anywhere below change at least one of them; nothing is written to any
# ancestor on a write, so uploads into one tree never wait on each other.
_FOLDER_TAGS = """
    SELECT f.id,
           SUM(CASE WHEN n.trashed_at IS NULL THEN 1 ELSE 0 END),
           SUM(CASE WHEN n.trashed_at IS NULL THEN n.id ELSE 0 END),
           SUM(CASE WHEN n.trashed_at IS NULL THEN n.size ELSE 0 END),
           MAX(CASE WHEN n.trashed_at IS NULL THEN n.updated_at END),
           MAX(n.trashed_at)
    FROM folders_node f
    JOIN folders_node n ON n.owner_id = f.owner_id AND n.path LIKE f.path || '%%'
    WHERE {where}
    GROUP BY f.id
"""


def folder_etags(*, folder: Node | None = None, parent: Node | None = None) -> dict[int, str]:
    """{folder id: etag} of one folder, or of every live folder in `parent`, in one query."""
    if folder is not None:
        where, params = "f.id = %s", [folder.pk]
    else:
        where, params = "f.parent_id = %s AND f.kind = 'folder' AND f.trashed_at IS NULL", [parent.pk]
    with connection.cursor() as cursor:
        cursor.execute(_FOLDER_TAGS.format(where=where), params)
        return {row[0]: hashlib.sha256(repr(row[1:]).encode()).hexdigest()[:32] for row in cursor.fetchall()}


def dead_properties(*, node: Node | None = None, parent: Node | None = None) -> dict[int, dict[str, str]]:
    """{node id: {property name: XML}} of one node, or of every live entry in `parent`, in one query."""
    rows = DeadProperty.objects.filter(node=node) if node is not None else \
        DeadProperty.objects.filter(node__parent=parent, node__trashed_at__isnull=True)
    found: dict[int, dict[str, str]] = defaultdict(dict)
    for node_id, name, value in rows.values_list("node_id", "name", "value"):
        found[node_id][name] = value
    return found
