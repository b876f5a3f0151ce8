"""Every write to the tree: names, folders, renames, moves, trash, stars, journal.

File-specific writes (uploads, versions, copies, purge) live in `files.services`
and call these for the tree part.
"""

import re
import secrets
import unicodedata
import uuid

from django.db import IntegrityError, connection, transaction
from django.db.models import F, Max, Sum, Value
from django.db.models.functions import Concat, Substr
from django.utils import timezone

from storage_site.core.exceptions import InvalidMove, InvalidName, NameConflict, NotFound

from .models import Change, ChangeAction, Node, NodeKind, Special, Star
# Reads live in `selectors`; these four are imported here too because code that predates
# the move (the upload doors) still calls them as `services.*`.
from .selectors import breadcrumbs, folder_get_or_home, node_by_token, node_get  # noqa: F401

MAX_NAME_BYTES = 255
MAX_DEPTH = 64


class ConflictPolicy:
    ERROR = "error"
    RENAME = "rename"  # autorename: "name (1).ext"
    VERSION = "version"  # files only: the upload becomes a new version of the same-named file


# --- names --------------------------------------------------------------------

def name_clean(raw: str) -> str:
    """NFC, trimmed, and free of anything that could escape a folder or confuse a client."""
    if not isinstance(raw, str):
        raise InvalidName("Name must be text.")
    name = unicodedata.normalize("NFC", raw).strip()
    if not name:
        raise InvalidName("Name must not be empty.")
    if name in (".", ".."):
        raise InvalidName("Name must not be '.' or '..'.")
    if "/" in name or "\\" in name:
        raise InvalidName("Name must not contain '/' or '\\'.")
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") and ch not in "\u200d" for ch in name):
        raise InvalidName("Name must not contain control characters.")
    if len(name.encode("utf-8")) > MAX_NAME_BYTES:
        raise InvalidName(f"Name must be at most {MAX_NAME_BYTES} bytes in UTF-8.")
    return name


_NUMBERED = re.compile(r"^(?P<stem>.*) \((?P<n>\d+)\)$")


def _split_ext(name: str) -> tuple[str, str]:
    dot = name.rfind(".")
    if dot <= 0:
        return name, ""
    return name[:dot], name[dot:]


def name_free(*, parent: Node, name: str) -> str:
    """`name`, or the first `name (n).ext` no live sibling has."""
    if not sibling_exists(parent=parent, name=name):
        return name
    stem, ext = _split_ext(name)
    match = _NUMBERED.match(stem)
    if match:
        stem = match["stem"]
    taken = set(Node.objects.live().filter(parent=parent, name__startswith=f"{stem} (").values_list("name", flat=True))
    n = 1
    while True:
        candidate = f"{stem} ({n}){ext}"
        if len(candidate.encode()) > MAX_NAME_BYTES:
            raise InvalidName("Name too long to make a unique copy of.")
        if candidate not in taken:
            return candidate
        n += 1


def sibling_exists(*, parent: Node, name: str, exclude: Node | None = None) -> bool:
    siblings = Node.objects.live().filter(parent=parent, name=name)
    if exclude is not None:
        siblings = siblings.exclude(pk=exclude.pk)
    return siblings.exists()


def sibling_get(*, parent: Node, name: str) -> Node | None:
    return Node.objects.live().filter(parent=parent, name=name).first()


def name_resolve(*, parent: Node, name: str, policy: str, exclude: Node | None = None) -> str:
    if not sibling_exists(parent=parent, name=name, exclude=exclude):
        return name
    if policy == ConflictPolicy.RENAME:
        return name_free(parent=parent, name=name)
    raise NameConflict(f"'{name}' already exists in this folder.")


# --- lookups ------------------------------------------------------------------

def root_get(*, user, special: str = Special.HOME) -> Node:
    """One of the owner's top-level folders (home, incoming), created on first use."""
    root = Node.objects.filter(owner=user, parent__isnull=True, special=special).first()
    if root is not None:
        return root
    try:
        with transaction.atomic():
            root = Node.objects.create(owner=user, kind=NodeKind.FOLDER, name="", special=special)
            root.path = f"/{root.pk}/"
            root.save(update_fields=["path"])
            return root
    except IntegrityError:  # created by a parallel request
        return Node.objects.get(owner=user, parent__isnull=True, special=special)


def home_get(*, user) -> Node:
    return root_get(user=user, special=Special.HOME)


def subtree_size(node: Node) -> int:
    if not node.is_folder:
        return node.size
    total = Node.objects.subtree(node).live().files().aggregate(total=Sum("size"))["total"]
    return total or 0


# --- journal --------------------------------------------------------------------

JOURNAL_APPEND_TRIES = 50


def journal_record(node: Node, action: str, *, parent_uuid=None) -> None:
    """Append a change of `node` to its owner's journal (inside the caller's transaction).

    A restored folder also records each live node under it: a sync client removed the
    subtree with the folder, and now has to see every entry come back."""
    if parent_uuid is None and node.parent_id:
        parent_uuid = Node.objects.filter(pk=node.parent_id).values_list("uuid", flat=True).first()
    rows = [Change(owner_id=node.owner_id, node_uuid=node.uuid, kind=node.kind, action=action, name=node.name,
                   parent_uuid=parent_uuid, size=node.size, version=node.version, sha256=node.sha256)]
    if action == ChangeAction.RESTORE and node.is_folder:
        below = (Node.objects.subtree(node).live().exclude(pk=node.pk).order_by("depth", "pk")
                 .values("uuid", "kind", "name", "parent__uuid", "size", "version", "sha256"))
        rows += [Change(owner_id=node.owner_id, node_uuid=n["uuid"], kind=n["kind"], action=action, name=n["name"],
                        parent_uuid=n["parent__uuid"], size=n["size"], version=n["version"], sha256=n["sha256"])
                 for n in below]
    _journal_append(node.owner_id, rows)


# The first key of the PostgreSQL advisory lock of an owner's journal (the second is the owner's id).
JOURNAL_LOCK_SPACE = 0x4A4E4C  # "JNL"


def _journal_append(owner_id: int, rows: list[Change]) -> None:
    """Number `rows` after the owner's last journal row.

    Two writers can read the same last number. The second one's insert then waits on
    the unique (owner, seq) index until the first commits, fails, and is retried with
    the new end (or succeeds if the first rolled back). So a number is taken only
    once every smaller one is committed: a reader at position n never sees n+1
    before n, whatever order PostgreSQL commits transactions in (global ids can).

    On PostgreSQL writers of one journal take turns from before the read (a lock held
    to the commit): the same wait, but the second then reads the first's number and
    its insert goes through; 4 parallel uploads by one user had 7 inserts in 10 fail
    and be tried again. Under that lock no insert can fail on the index, so there is
    no savepoint to roll back to (two statements less per write)."""
    if connection.vendor == "postgresql":
        with transaction.atomic(savepoint=False):  # the lock lasts until the outermost commit
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [JOURNAL_LOCK_SPACE, owner_id])
            _journal_number(owner_id, rows)
        return
    for attempt in range(JOURNAL_APPEND_TRIES):
        try:
            with transaction.atomic():
                _journal_number(owner_id, rows)
            return
        except IntegrityError:
            if attempt + 1 == JOURNAL_APPEND_TRIES:
                raise


def _journal_number(owner_id: int, rows: list[Change]) -> None:
    top = Change.objects.filter(owner_id=owner_id).aggregate(top=Max("seq"))["top"] or 0
    for offset, row in enumerate(rows, start=1):
        row.seq = top + offset
    Change.objects.bulk_create(rows)


# --- writes -----------------------------------------------------------------------

def _check_parent(parent: Node) -> None:
    if not parent.is_folder or parent.trashed_at is not None:
        raise NotFound("Folder not found.")
    if parent.depth + 1 > MAX_DEPTH:
        raise InvalidMove(f"Folders nest at most {MAX_DEPTH} levels deep.", code="TOO_DEEP")


def node_insert(*, parent: Node, name: str, kind: str, policy: str = ConflictPolicy.ERROR, **fields) -> Node:
    """Create a node under `parent` (inside the caller's transaction) and journal it."""
    _check_parent(parent)
    name = name_clean(name)
    if policy == ConflictPolicy.RENAME:
        name = name_free(parent=parent, name=name)
    # Otherwise a taken name is refused by the unique index of live sibling names, without
    # a query ahead of the insert to ask (it would have to be asked again under the index).
    try:
        with transaction.atomic():
            node = Node.objects.create(owner_id=parent.owner_id, parent=parent, kind=kind, name=name,
                                       depth=parent.depth + 1, token=token_new(), **fields)
            node.path = f"{parent.path}{node.pk}/"
            node.save(update_fields=["path"])
    except IntegrityError:
        raise NameConflict(f"'{name}' already exists in this folder.") from None
    journal_record(node, ChangeAction.CREATE, parent_uuid=parent.uuid)
    return node


def folder_create(*, user, parent: Node, name: str, description: str = "",
                  policy: str = ConflictPolicy.ERROR) -> Node:
    with transaction.atomic():
        return node_insert(parent=parent, name=name, kind=NodeKind.FOLDER, policy=policy, description=description)


def folder_ensure_path(*, user, parent: Node, parts: list[str]) -> Node:
    """Walk or create folders `parts` under `parent` (bulk uploads, mobile folder paths)."""
    current = parent
    for part in parts:
        name = name_clean(part)
        existing = sibling_get(parent=current, name=name)
        if existing is not None:
            if not existing.is_folder:
                raise NameConflict(f"'{name}' is a file, not a folder.")
            current = existing
            continue
        try:
            current = folder_create(user=user, parent=current, name=name)
        except NameConflict:  # created by a parallel request
            current = sibling_get(parent=current, name=name)
    return current


def node_rename(*, node: Node, name: str, policy: str = ConflictPolicy.ERROR) -> Node:
    if node.is_root:
        raise InvalidName("A top-level folder cannot be renamed.")
    name = name_clean(name)
    if name == node.name:
        return node
    with transaction.atomic():
        parent = Node.objects.select_for_update().get(pk=node.parent_id)
        node.name = name_resolve(parent=parent, name=name, policy=policy, exclude=node)
        try:
            with transaction.atomic():
                node.save(update_fields=["name", "updated_at"])
        except IntegrityError:
            raise NameConflict(f"'{name}' already exists in this folder.") from None
        journal_record(node, ChangeAction.RENAME, parent_uuid=parent.uuid)
    return node


def node_move(*, node: Node, target: Node, policy: str = ConflictPolicy.ERROR, name: str | None = None) -> Node:
    """Move a node (and its subtree) into `target`, rewriting the subtree's paths in one UPDATE."""
    if node.is_root:
        raise InvalidMove("A top-level folder cannot be moved.")
    if target.owner_id != node.owner_id:
        raise NotFound("Folder not found.")
    _check_parent(target)
    if target.path.startswith(node.path):
        raise InvalidMove()
    if target.pk == node.parent_id and (name is None or name == node.name):
        return node
    deepest = Node.objects.subtree(node).order_by("-depth").values_list("depth", flat=True).first() or node.depth
    if target.depth + 1 + (deepest - node.depth) > MAX_DEPTH:
        raise InvalidMove(f"Folders nest at most {MAX_DEPTH} levels deep.", code="TOO_DEEP")
    with transaction.atomic():
        list(Node.objects.select_for_update().filter(pk__in=[node.pk, target.pk]))
        new_name = name_resolve(parent=target, name=name_clean(name or node.name), policy=policy, exclude=node)
        old_path, new_path = node.path, f"{target.path}{node.pk}/"
        depth_shift = target.depth + 1 - node.depth
        try:
            with transaction.atomic():
                Node.objects.filter(pk=node.pk).update(parent=target, name=new_name, updated_at=timezone.now())
                Node.objects.subtree(node).update(
                    path=Concat(Value(new_path), Substr("path", len(old_path) + 1)),
                    depth=F("depth") + depth_shift,
                )
        except IntegrityError:
            raise NameConflict(f"'{new_name}' already exists in the target folder.") from None
        node.refresh_from_db()
        journal_record(node, ChangeAction.MOVE, parent_uuid=target.uuid)
    return node


_KEEP = object()


def node_update(*, user, node: Node, name: str | None = None, parent_id=_KEEP) -> Node:
    """Rename and/or move a node in one call, as StreamVault v4 asks: `parent_id`
    None means the home folder; left out, the node stays where it is."""
    if parent_id is not _KEEP:
        target = folder_get_or_home(user=user, folder_id=parent_id)
        node = node_move(node=node, target=target, name=name)
    elif name is not None:
        node = node_rename(node=node, name=name)
    node.refresh_from_db()
    return node


def node_trash(*, node: Node) -> None:
    """Move a node and everything under it to the trash, restorable as one."""
    if node.is_root:
        raise InvalidMove("A top-level folder cannot be deleted.")
    batch, now = uuid.uuid4(), timezone.now()
    with transaction.atomic(durable=True):
        Node.objects.subtree(node).live().update(trashed_at=now, trash_batch=batch, trash_origin=False)
        Node.objects.filter(pk=node.pk).update(trash_origin=True)
        node.refresh_from_db()
        journal_record(node, ChangeAction.TRASH)


def node_restore(*, node: Node) -> Node:
    """Bring a trashed node and its batch back; into home if its folder is gone,
    under a free name if the old one was taken meanwhile."""
    if node.trashed_at is None or not node.trash_origin:
        raise NotFound("Not in the trash.")
    with transaction.atomic(durable=True):
        parent = Node.objects.select_for_update().filter(pk=node.parent_id, trashed_at__isnull=True).first()
        if parent is None:
            parent = home_get(user=node.owner)
        name = name_free(parent=parent, name=node.name)
        batch = node.trash_batch
        if parent.pk != node.parent_id:
            Node.objects.filter(pk=node.pk).update(trashed_at=None, trash_batch=None, trash_origin=False)
            node.refresh_from_db()
            node_move(node=node, target=parent, name=name, policy=ConflictPolicy.RENAME)
        else:
            Node.objects.filter(pk=node.pk).update(name=name)
        Node.objects.filter(owner_id=node.owner_id, trash_batch=batch).update(
            trashed_at=None, trash_batch=None, trash_origin=False)
        node.refresh_from_db()
        journal_record(node, ChangeAction.RESTORE)
    return node


# --- capability tokens -------------------------------------------------------------

def token_new() -> str:
    return secrets.token_urlsafe(24)  # 192 bits


def token_get(node: Node) -> str:
    """The node's capability token, made on first use for nodes that predate tokens."""
    if not node.token:
        Node.objects.filter(pk=node.pk, token__isnull=True).update(token=token_new())
        node.token = Node.objects.values_list("token", flat=True).get(pk=node.pk)
    return node.token


def token_rotate(*, node: Node) -> str:
    """Replace the node's token: the old one stops working at once."""
    node.token = token_new()
    node.save(update_fields=["token"])
    return node.token


def node_set_description(*, node: Node, description: str) -> Node:
    node.description = description
    node.save(update_fields=["description", "updated_at"])
    return node


def star_set(*, user, node: Node, starred: bool) -> None:
    if starred:
        Star.objects.get_or_create(user=user, node=node)
    else:
        Star.objects.filter(user=user, node=node).delete()
