"""Every read of the tree: owner-scoped lookups, listings, breadcrumbs.

Isolation lives here: a view reaches a node only through `node_for_owner` (by id) or
`node_by_token` (a capability), and either answers 404 alike for another user's node,
an unknown one and a malformed id, so a second user learns nothing.
"""

import uuid as uuid_lib

from django.db.models import Exists, F, OuterRef

from storage_site.core.exceptions import NotFound

from .models import Node, NodeKind, Star


# The columns NodeSerializer shows: a page of a listing loads these and nothing else.
SHOWN_FIELDS = ("uuid", "name", "kind", "parent_id", "size", "mime_type", "category", "version", "sha256",
                "created_at", "updated_at")


def _listed(user, nodes):
    return nodes.annotate(is_starred=Exists(Star.objects.filter(user=user, node=OuterRef("pk"))),
                          parent_uuid=F("parent__uuid"))


def live_nodes_for(user):
    """The user's live nodes, bare: filters only, for lists that pick a page's keys first
    (storage_site.core.pagination.KeyedList) and then decorate the page with `nodes_shown`."""
    return Node.objects.for_owner(user).live().exclude(parent__isnull=True)


def nodes_shown(user, nodes):
    """`nodes` with what every listing shows (the user's star, the parent's UUID) and only
    the columns it shows."""
    return _listed(user, nodes).only(*SHOWN_FIELDS)


def nodes_for(user):
    """The user's live nodes with what every listing shows, in one query."""
    return _listed(user, live_nodes_for(user))


def trash_for(user):
    """What the user deleted: one entry per delete, newest first."""
    nodes = Node.objects.for_owner(user).filter(trash_origin=True, trashed_at__isnull=False)
    return _listed(user, nodes).order_by("-trashed_at", "pk")


def folder_tree(user) -> list[dict]:
    """Every live folder of the user, nested, from one query."""
    rows = list(Node.objects.for_owner(user).live().filter(kind=NodeKind.FOLDER, parent__isnull=False)
                .order_by("depth", "name").values("pk", "uuid", "name", "parent_id", "created_at"))
    by_id = {row["pk"]: {"id": str(row["uuid"]), "name": row["name"], "createdAt": row["created_at"],
                         "children": []} for row in rows}
    roots = []
    for row in rows:
        entry = by_id[row["pk"]]
        parent = by_id.get(row["parent_id"])
        (parent["children"] if parent else roots).append(entry)
    return roots


# --- owner-scoped lookups ----------------------------------------------------------

def _not_found(kind: str | None) -> NotFound:
    return NotFound("File not found." if kind == NodeKind.FILE else "Folder not found." if kind else None)


def node_for_owner(user, *, uuid=None, pk=None, kind: str | None = None, include_trashed: bool = False,
                   top_level: bool = True) -> Node:
    """A node of `user` by UUID (or by primary key, as StreamVault v3 names files); another
    user's, unknown, malformed, trashed (unless `include_trashed`) or, without `top_level`,
    a top-level folder: 404."""
    try:
        lookup = {"pk": int(pk)} if pk is not None else {"uuid": uuid_lib.UUID(str(uuid))}
    except (TypeError, ValueError):  # a malformed id names nothing
        raise _not_found(kind) from None
    nodes = Node.objects.for_owner(user).filter(**lookup)
    if kind:
        nodes = nodes.filter(kind=kind)
    if not include_trashed:
        nodes = nodes.live()
    if not top_level:
        nodes = nodes.exclude(parent__isnull=True)
    node = nodes.first()
    if node is None:
        raise _not_found(kind)
    return node


def node_get(*, user, node_id, kind: str | None = None, include_trashed: bool = False) -> Node:
    """A node of this user by UUID; anything else (another user's, unknown, malformed) is 404."""
    return node_for_owner(user, uuid=node_id, kind=kind, include_trashed=include_trashed)


def folder_get_or_home(*, user, folder_id) -> Node:
    """The folder a request names; `root`, `home` or nothing name the home folder."""
    if folder_id in (None, "", "root", "home"):
        from .services import home_get  # made on first use: a write, so it stays a service

        return home_get(user=user)
    return node_get(user=user, node_id=folder_id, kind=NodeKind.FOLDER)


def node_by_token(token: str, *, kind: str | None = None, owner=None) -> Node:
    """A live node by capability token; unknown, rotated or trashed → 404. With `owner`,
    only that user's node: another user's token is the same 404 as a made-up one."""
    nodes = Node.objects.live().filter(token=token) if token else Node.objects.none()
    if kind:
        nodes = nodes.filter(kind=kind)
    if owner is not None:
        nodes = nodes.for_owner(owner)
    node = nodes.first()
    if node is None:
        raise NotFound()
    return node


def breadcrumbs(node: Node) -> list[Node]:
    """The folders from home down to the node's parent, in one query."""
    by_id = {n.pk: n for n in Node.objects.filter(pk__in=node.ancestor_ids)}
    return [by_id[pk] for pk in node.ancestor_ids if pk in by_id]
