from django.db.models import Exists, F, OuterRef

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
