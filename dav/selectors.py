"""WebDAV reads: a path to a node, a folder's entries, folder etags, dead properties.

Each is one query whatever the size of a folder, so a PROPFIND costs the same few
queries for 10 entries or 10,000.
"""

import hashlib
import unicodedata
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime

from django.db import connection, connections
from django.db.models import FloatField, Func, Q
from django.db.models.base import ModelState

from folders import services as tree
from folders.models import Node

from .models import DeadProperty


# {user uuid: id of their home folder}, per process: a home folder is made once and
# never moves or goes, so a path below it is found without asking for it each request.
_home_ids: dict = {}
_HOME_IDS_KEPT = 10_000


def home_get(*, user) -> Node:
    home = tree.home_get(user=user)
    if len(_home_ids) >= _HOME_IDS_KEPT:
        _home_ids.clear()
    _home_ids[user.uuid] = home.pk
    return home


def home_id(*, user) -> int:
    found = _home_ids.get(user.uuid)
    return found if found is not None else home_get(user=user).pk


def node_at(*, user, names: list[str], home: Node | None = None) -> Node | None:
    """The live node at `names` below the user's home folder (home itself for []), in one query."""
    if not names:
        return home or home_get(user=user)
    chain = nodes_along(user=user, names=names, home=home)
    return chain[-1] if len(chain) == len(names) else None


def nodes_along(*, user, names: list[str], home: Node | None = None) -> list[Node]:
    """The live nodes at `names[:1]`, `names[:2]`, ... below the user's home folder, as far
    as they go (all of them when `names` is there), in one query."""
    if any("\x00" in name for name in names):
        return []  # no name holds one (and PostgreSQL text cannot)
    names = [unicodedata.normalize("NFC", name) for name in names]  # as names are stored ('é' sent as e + ◌́)
    match = Q()
    for level, name in enumerate(names, start=1):  # a home folder is at depth 0
        match |= Q(depth=level, name=name)
    # Every live entry of the user with one of the names at its depth, found through the
    # owner-and-name index (`parent` not null is that partial index's condition); the walk
    # from home below keeps only the chain. A filter on the path prefix instead made
    # PostgreSQL read every entry the user has, on every request.
    candidates = Node.objects.for_owner(user).live().filter(match, parent__isnull=False).order_by()  # no sort
    by_parent = {(n.parent_id, n.name): n for n in candidates}
    chain, node_id = [], home.pk if home else home_id(user=user)
    for name in names:
        node = by_parent.get((node_id, name))
        if node is None:
            break
        chain.append(node)
        node_id = node.pk
    return chain


# The columns WebDAV shows or needs to write; a listing loads these and nothing else.
SHOWN_FIELDS = ("id", "uuid", "owner_id", "kind", "parent_id", "special", "name", "path", "depth", "size",
                "mime_type", "version", "sha256", "trashed_at", "created_at", "updated_at")


class _Epoch(Func):
    """A timestamp as seconds since 1970: the database turns 20,000 of them into floats in
    a fraction of the time the driver takes to parse them into datetimes."""

    output_field = FloatField()
    template = "EXTRACT(EPOCH FROM %(expressions)s)::float8"

    def as_sqlite(self, compiler, connection, **extra):
        return self.as_sql(compiler, connection, template="(julianday(%(expressions)s) - 2440587.5) * 86400.0",
                           **extra)


CHUNK = 2000  # rows fetched at a time by a listing

# The columns a listing reads, as both databases keep them (the uuid is left out: SQLite
# keeps it as text; it is read on first use). The two dates come after them, as seconds.
_ROW_FIELDS = ("id", "owner_id", "kind", "parent_id", "special", "name", "path", "depth", "size", "mime_type",
               "version", "sha256", "trashed_at")


def children_of(folder: Node) -> Iterator[Node]:
    """The folder's live entries by name, read from the database as they are used (one
    query; a server-side cursor on PostgreSQL), so a listing of 10,000 never sits in
    memory whole. The rows are read raw, without Django's per-value converters, and made
    into nodes without Model.__init__ (both cost more than the query); their two dates
    come as seconds (to the microsecond on PostgreSQL, the millisecond on SQLite)."""
    rows = (Node.objects.live().filter(parent=folder).order_by("name", "pk")
            .annotate(created_s=_Epoch("created_at"), updated_s=_Epoch("updated_at"))
            .values_list(*_ROW_FIELDS, "created_s", "updated_s"))
    sql, params = rows.query.get_compiler(rows.db).as_sql()
    return _nodes(connections[rows.db], sql, params)


def _nodes(db, sql: str, params) -> Iterator[Node]:
    with db.chunked_cursor() as cursor:
        cursor.execute(sql, params)
        while chunk := cursor.fetchmany(CHUNK):
            for row in chunk:
                yield _node(row, db.alias)


def _node(row: tuple, db: str) -> Node:
    """A loaded node from a row of `_ROW_FIELDS` and the two dates, as Model.from_db would
    make it (the fields not loaded are read on first use, as with `only`)."""
    node = Node.__new__(Node)
    node.__dict__.update(zip(_ROW_FIELDS, row))
    node.created_at = datetime.fromtimestamp(row[-2], UTC)
    node.updated_at = datetime.fromtimestamp(row[-1], UTC)
    node._state = ModelState()
    node._state.adding, node._state.db = False, db
    return node


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


def folders_where(*, folder=None, parent=None, nodes=None) -> tuple[str, list]:
    """SQL condition and parameters on the folder alias `f`: one folder, every live folder
    in `parent`, or the folders among `nodes` (the per-folder aggregates of a listing)."""
    if nodes is not None:
        ids = [node.pk for node in nodes if node.is_folder] or [0]
        return f"f.id IN ({', '.join(['%s'] * len(ids))})", ids
    if folder is not None:
        return "f.id = %s", [folder.pk]
    return "f.parent_id = %s AND f.kind = 'folder' AND f.trashed_at IS NULL", [parent.pk]


def folder_etags(*, folder: Node | None = None, parent: Node | None = None) -> dict[int, str]:
    """{folder id: etag} of one folder, or of every live folder in `parent`, in one query."""
    where, params = folders_where(folder=folder, parent=parent)
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
