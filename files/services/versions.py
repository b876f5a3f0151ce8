"""File versions: restore an old one, prune by the retention rule."""

from collections import Counter
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from accounts.quota import quota_held, quota_refund
from folders import services as tree
from folders.models import ChangeAction, Node, NodeKind
from storage_site.core.exceptions import NotFound

from ..models import FileVersion
from .blobs import blobs_ref, blobs_unref


def version_get(*, node: Node, number) -> FileVersion:
    try:
        number = int(number)
    except (TypeError, ValueError):
        raise NotFound("Version not found.") from None
    version = FileVersion.objects.select_related("blob").filter(node=node, number=number).first()
    if version is None:
        raise NotFound("Version not found.")
    return version


def version_restore(*, user, node: Node, number) -> Node:
    """Make an old version current again, as a new version (history is never rewritten)."""
    old = version_get(node=node, number=number)
    if old.number == node.version:
        return node
    with quota_held(user=user, size=old.size) as reservation:
        with transaction.atomic(durable=True):
            node = Node.objects.select_for_update().get(pk=node.pk)
            node.version += 1
            node.size, node.sha256, node.mime_type = old.size, old.blob.sha256, old.mime_type
            node.save(update_fields=["version", "size", "sha256", "mime_type", "updated_at"])
            FileVersion.objects.create(node=node, number=node.version, blob=old.blob, size=old.size,
                                       mime_type=old.mime_type, created_by=user)
            blobs_ref(Counter({old.blob_id: 1}))
            reservation.commit(old.size)
            tree.journal_record(node, ChangeAction.UPDATE)
        reservation.committed(old.size)
    return node


def versions_prune(*, now=None, node_ids: list[int] | None = None) -> int:
    """Apply the retention rule: keep at most VERSION_KEEP_MAX versions per file and
    none older than VERSION_KEEP_DAYS; the current version is never pruned."""
    keep_max, keep_days = settings.VERSION_KEEP_MAX, settings.VERSION_KEEP_DAYS
    if not keep_max and not keep_days:
        return 0
    now = now or timezone.now()
    nodes = Node.objects.filter(kind=NodeKind.FILE, version__gt=1)
    if node_ids is not None:
        nodes = nodes.filter(pk__in=node_ids)
    freed = 0
    for node_id, owner_id, current in nodes.values_list("pk", "owner_id", "version").iterator():
        old = FileVersion.objects.filter(node_id=node_id).exclude(number=current).order_by("-number")
        doomed = set()
        if keep_max:
            doomed.update(old.values_list("pk", flat=True)[max(keep_max - 1, 0):])
        if keep_days:
            doomed.update(old.filter(created_at__lt=now - timedelta(days=keep_days)).values_list("pk", flat=True))
        if doomed:
            freed += _versions_delete(owner_id=owner_id, version_ids=doomed)
    return freed


def _versions_delete(*, owner_id: int, version_ids) -> int:
    with transaction.atomic(durable=True):
        versions = FileVersion.objects.filter(pk__in=version_ids)
        size = versions.aggregate(total=Sum("size"))["total"] or 0
        refs = Counter(versions.values_list("blob_id", flat=True))
        versions.delete()
        blobs_unref(refs)
        quota_refund(user_id=owner_id, size=size)
    return size
