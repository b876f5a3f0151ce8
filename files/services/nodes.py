"""Tree operations that involve bytes: copy, purge, emptying the trash."""

from collections import Counter
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Sum
from django.utils import timezone

from accounts.quota import quota_held, quota_refund
from folders import services as tree
from folders.models import ChangeAction, Node, NodeKind
from storage_site.core.exceptions import InvalidMove, NotFound

from ..models import FileVersion
from .blobs import blobs_ref, blobs_unref


def node_copy(*, user, node: Node, target: Node, name: str | None = None,
              policy: str = tree.ConflictPolicy.ERROR) -> Node:
    """Copy a file, or a folder and everything live under it, into `target`.
    Only current versions are copied; bytes are shared (one more blob reference
    each) and charged to the quota of the target's owner, who owns the copy (a
    user's folder or a group's). `user` is who asks; callers have checked that
    they may reach both nodes."""
    if node.is_root:
        raise InvalidMove("A top-level folder cannot be copied.")
    if node.is_folder and node.owner_id == target.owner_id and target.path.startswith(node.path):
        raise InvalidMove()
    subtree = list(Node.objects.subtree(node).live().order_by("depth", "pk"))
    size = sum(n.size for n in subtree if not n.is_folder)
    with quota_held(user=target.owner, size=size) as reservation:
        with transaction.atomic():
            current = {v.node_id: v for v in FileVersion.objects.filter(
                node__in=[n.pk for n in subtree if not n.is_folder], number=F("node__version"))}
            copies: dict[int, Node] = {}
            for original in subtree:
                top = original.pk == node.pk
                copies[original.pk] = copy = tree.node_insert(
                    parent=target if top else copies[original.parent_id],
                    name=(name or original.name) if top else original.name, kind=original.kind,
                    policy=policy if top else tree.ConflictPolicy.ERROR,
                    description=original.description, size=original.size, mime_type=original.mime_type,
                    category=original.category, version=0 if original.is_folder else 1,
                    sha256=original.sha256, metadata=original.metadata,
                )
                if not original.is_folder:
                    version = current[original.pk]
                    FileVersion.objects.create(node=copy, number=1, blob_id=version.blob_id, size=version.size,
                                               mime_type=version.mime_type, created_by=user)
            blobs_ref(Counter(v.blob_id for v in current.values()))
            reservation.commit(size)
        reservation.committed(size)
    return copies[node.pk]


def nodes_purge(*, owner_id: int, node_ids: list[int]) -> int:
    """Delete nodes for good (with everything under them): versions, blob
    references and usage go in the same transaction. Returns bytes freed."""
    with transaction.atomic(durable=True):
        roots = list(Node.objects.filter(pk__in=node_ids, owner_id=owner_id))
        if not roots:
            return 0
        for root in roots:
            _rehome_separate_trash(root)
        all_ids: set[int] = set()
        for root in roots:
            all_ids.update(Node.objects.subtree(root).values_list("pk", flat=True))
        versions = FileVersion.objects.filter(node_id__in=all_ids)
        freed = versions.aggregate(total=Sum("size"))["total"] or 0
        refs = Counter(versions.values_list("blob_id", flat=True))
        for root in roots:
            tree.journal_record(root, ChangeAction.PURGE)
        versions.delete()
        # Children first, so no row is left pointing at a deleted parent.
        Node.objects.filter(pk__in=all_ids).order_by("-depth").delete()
        blobs_unref(refs)
        quota_refund(user_id=owner_id, size=freed)
    return freed


def _rehome_separate_trash(root: Node) -> None:
    """Entries deleted on their own before their folder stay restorable when the
    folder is purged: they move (still in the trash) to the home folder."""
    separate = (Node.objects.subtree(root).filter(trash_origin=True).exclude(pk=root.pk)
                .exclude(trash_batch=root.trash_batch).order_by("depth"))
    home = None
    for node in separate:
        node.refresh_from_db()
        if not node.path.startswith(root.path):  # moved along with an outer entry
            continue
        home = home or tree.home_get(user=root.owner)
        tree.node_move(node=node, target=home, policy=tree.ConflictPolicy.RENAME)


def trash_purge(*, user, node: Node) -> int:
    if node.trashed_at is None or not node.trash_origin:
        raise NotFound("Not in the trash.")
    batch_roots = list(Node.objects.filter(owner=user, trash_batch=node.trash_batch, trash_origin=True)
                       .values_list("pk", flat=True))
    return nodes_purge(owner_id=user.pk, node_ids=batch_roots)


def trash_empty(*, user) -> int:
    roots = list(Node.objects.filter(owner=user, trash_origin=True, trashed_at__isnull=False)
                 .values_list("pk", flat=True))
    return nodes_purge(owner_id=user.pk, node_ids=roots)


def trash_purge_expired(*, now=None) -> int:
    """Purge what has been in the trash longer than the retention period."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.TRASH_RETENTION_DAYS)
    freed = 0
    expired = Node.objects.filter(trash_origin=True, trashed_at__lt=cutoff).values_list("owner_id", "pk")
    for owner_id, pk in list(expired[:10000]):
        freed += nodes_purge(owner_id=owner_id, node_ids=[pk])
    return freed


def file_nodes(*, user):
    return Node.objects.for_owner(user).filter(kind=NodeKind.FILE)
