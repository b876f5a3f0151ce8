"""One page of `sync/status`.

Without a token the answer is a full listing: every live entry under home, as
`created`, parents before children (ordered by depth, then id), paged; the token
of its last page continues from the journal position read when the listing began,
so whatever changed while it was paged comes as a delta afterwards.

With a token the answer is the owner's journal rows after the token's position,
`limit` rows per page, one range scan of (owner, seq). Rows of one node in a page
fold into one entry, its state after the page's last row of it:

- the client did not have the node before the page (its first row is a create or
  a restore) and has it after → `created`;
- it had it and still has it (updates, renames, moves) → `updated`;
- it had it and it is gone (trashed, purged, moved out of home) → `deleted`;
- it did not have it and it is gone (created and deleted within the page) → nothing.

A page costs the same few queries whatever its size: the journal rows, the
parents of the entries, their ancestors (for folder paths), the open conflicts."""

from dataclasses import dataclass, field

from django.db.models import Q, TextField
from django.db.models.functions import Cast

from folders.models import Change, ChangeAction, Node, Special

from ...models import SyncConflict, SyncConflictStatus
from . import cursor as cursors
from .cursor import Cursor
from .entries import ancestors_info, entry, folder_path, node_entries, nodes_among, path_ids, uuid_text

PAGE_DEFAULT = 500
PAGE_MAX = 1000
CONFLICTS_MAX = 100

GONE = {ChangeAction.TRASH, ChangeAction.PURGE}
# A node whose first row in a page is one of these was not on the client before it.
ABSENT_BEFORE = {ChangeAction.CREATE, ChangeAction.RESTORE, ChangeAction.PURGE}
ROW_FIELDS = ("id", "seq", "node", "kind", "action", "name", "parent", "size", "version", "sha256", "stamp")


@dataclass
class Page:
    full: bool
    cursor: Cursor  # where the next page starts
    has_more: bool
    created: list[dict] = field(default_factory=list)
    updated: list[dict] = field(default_factory=list)
    deleted: list[dict] = field(default_factory=list)
    conflicts: list[SyncConflict] = field(default_factory=list)

    @property
    def has_changes(self) -> bool:
        return bool(self.created or self.updated or self.deleted)


def sync_page(*, user, cursor: Cursor | None, limit: int = PAGE_DEFAULT) -> Page:
    """The page after `cursor` (None: the first page of a full listing)."""
    limit = max(1, min(limit, PAGE_MAX))
    if cursor is None:
        start = cursors.head(user)
        page = _listing(user, Cursor(start.position, start.fingerprint, (0, 0)), limit)
    elif cursor.after is not None:
        cursors.check(user, cursor)
        page = _listing(user, cursor, limit)
    else:
        page = _delta(user, cursor, limit)
    page.conflicts = open_conflicts(user)
    return page


def open_conflicts(user) -> list[SyncConflict]:
    return list(SyncConflict.objects.filter(owner=user).exclude(status=SyncConflictStatus.RESOLVED)
                .select_related("node").order_by("created_at", "pk")[:CONFLICTS_MAX])


def _listing(user, cursor: Cursor, limit: int) -> Page:
    home = Node.objects.filter(owner=user, parent__isnull=True, special=Special.HOME).values("pk", "path").first()
    if home is None:
        return Page(full=True, cursor=Cursor(cursor.position, cursor.fingerprint), has_more=False)
    depth, after_pk = cursor.after
    nodes = list(Node.objects.filter(owner=user, path__startswith=home["path"], trashed_at__isnull=True)
                 .exclude(pk=home["pk"]).filter(Q(depth__gt=depth) | Q(depth=depth, pk__gt=after_pk))
                 .order_by("depth", "pk")
                 .only("pk", "uuid", "name", "path", "kind", "size", "version", "sha256", "updated_at", "depth")
                 [:limit + 1])
    has_more = len(nodes) > limit
    nodes = nodes[:limit]
    entries = node_entries(user, nodes)
    if has_more:
        last = nodes[-1]
        following = Cursor(cursor.position, cursor.fingerprint, (last.depth, last.pk))
    else:
        following = Cursor(cursor.position, cursor.fingerprint)
    return Page(full=True, cursor=following, has_more=has_more, created=[entries[node.pk] for node in nodes])


def _delta(user, cursor: Cursor, limit: int) -> Page:
    start = cursor.position
    # The row at the token's position comes first: it proves this journal still holds it.
    # Ids and times come as text, which loads several times faster than UUIDs and timestamps.
    journal = cursors.stamped(Change.objects.filter(owner=user, seq__gte=max(start, 1))).annotate(
        node=Cast("node_uuid", TextField()), parent=Cast("parent_uuid", TextField()))
    rows = list(journal.order_by("seq").values(*ROW_FIELDS)[:limit + 1 + (1 if start else 0)])
    if start:
        cursors.check_row(cursor, rows[0] if rows else None)
        rows = rows[1:]
    has_more = len(rows) > limit
    rows = rows[:limit]
    if not rows:
        return Page(full=False, cursor=cursor, has_more=False)
    last_row = rows[-1]
    following = Cursor(last_row["seq"], cursors.fingerprint(last_row["id"], last_row["stamp"]))

    spans: dict = {}  # node uuid → [first row, last row], in order of first appearance
    for row in rows:
        span = spans.setdefault(row["node"], [row, row])
        span[1] = row
    parent_uuids = {last["parent"] for _, last in spans.values() if last["action"] not in GONE and last["parent"]}
    chains = {}
    if parent_uuids:
        chains = {uuid_text(row["u"]): path_ids(row["path"]) for row in nodes_among(user, "uuid", parent_uuids)
                  .values("path", u=Cast("uuid", TextField()))}
    info = ancestors_info(user, chains.values())
    folders = {parent: folder_path(chain, info) for parent, chain in chains.items()}

    page = Page(full=False, cursor=following, has_more=has_more)
    created = []
    for node_uuid, (first, last) in spans.items():
        had_before = first["action"] not in ABSENT_BEFORE
        parent = uuid_text(last["parent"]) if last["parent"] else None
        folder = folders.get(parent) if last["action"] not in GONE else None
        if folder is not None:
            item = entry(uuid=uuid_text(node_uuid), name=last["name"], folder=folder, parent_uuid=parent,
                         kind=last["kind"], size=last["size"], modified_at=cursors.iso_time(last["stamp"]),
                         sha256=last["sha256"], version=last["version"])
            if had_before:
                page.updated.append(item)
            else:
                created.append((len(chains[parent]), first["seq"], item))
        elif had_before:
            page.deleted.append({"id": uuid_text(node_uuid), "kind": last["kind"],
                                 "deletedAt": cursors.iso_time(last["stamp"])})
    # Parents before children: a folder is shallower than anything in it.
    page.created = [item for _, _, item in sorted(created, key=lambda c: (c[0], c[1]))]
    return page
