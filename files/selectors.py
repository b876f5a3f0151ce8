"""Reads that several views and dialects share."""

from django.db.models import F, Q, Sum

from folders.models import NodeKind
from folders.selectors import nodes_for, trash_for  # noqa: F401  (shared with folders)

from .models import FileVersion


def files_for(user):
    return nodes_for(user).filter(kind=NodeKind.FILE)


def search(user, query: str, kind: str | None = None):
    nodes = nodes_for(user).filter(name__icontains=query)
    if kind:
        nodes = nodes.filter(Q(category=kind) | Q(kind=kind))
    return nodes.order_by("name", "pk")


def usage(user) -> dict:
    """How the user's stored bytes split: live files, older versions, trash."""
    versions = FileVersion.objects.filter(node__owner=user)
    live_current = versions.filter(node__trashed_at__isnull=True, number=F("node__version"))
    totals = {
        "live": live_current.aggregate(s=Sum("size"))["s"] or 0,
        "versions": versions.filter(node__trashed_at__isnull=True).exclude(number=F("node__version"))
        .aggregate(s=Sum("size"))["s"] or 0,
        "trash": versions.filter(node__trashed_at__isnull=False).aggregate(s=Sum("size"))["s"] or 0,
    }
    fresh = type(user).objects.values("storage_quota", "storage_used", "storage_reserved").get(pk=user.pk)
    return {
        "quota": fresh["storage_quota"],
        "used": fresh["storage_used"],
        "reserved": fresh["storage_reserved"],
        "available": max(0, fresh["storage_quota"] - fresh["storage_used"] - fresh["storage_reserved"]),
        **totals,
        "fileCount": live_current.count(),
    }
