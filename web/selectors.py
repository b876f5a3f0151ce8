"""Reads the drive's pages need on top of the shared selectors."""

from django.db.models import Exists, OuterRef

from files.models import FileVersion
from folders.models import Node, Star
from folders.selectors import live_nodes_for, nodes_shown
from previews.models import Preview, PreviewStatus, PreviewType
from storage_site.core.pagination import KeyedList

# ?sort= → the listing's order; folders always come first, ties broken by id.
SORTS = {"name": ("name",), "size": ("size",), "modified": ("updated_at",)}


def folder_entries(*, user, folder: Node, sort: str, descending: bool) -> KeyedList:
    """The folder's live entries in the asked order, paged in two steps (a page of a
    10,000-entry folder reads one page of keys, then those rows)."""
    fields = SORTS.get(sort, SORTS["name"])
    order = ["-kind", *(f"-{f}" if descending else f for f in fields), "-pk" if descending else "pk"]
    rows = live_nodes_for(user).filter(parent=folder).order_by(*order)
    return KeyedList(rows, decorate=lambda nodes: with_thumbnails(nodes_shown(user, nodes)))


def with_thumbnails(nodes):
    """Marks the files whose current content has a ready thumbnail (`has_thumbnail`)."""
    ready = Preview.objects.filter(preview_type=PreviewType.THUMBNAIL, status=PreviewStatus.READY,
                                   blob__versions__node=OuterRef("pk"),
                                   blob__versions__number=OuterRef("version"))
    return nodes.annotate(has_thumbnail=Exists(ready))


def starred(user):
    return with_thumbnails(nodes_shown(user, live_nodes_for(user).filter(
        Exists(Star.objects.filter(user=user, node=OuterRef("pk")))))).order_by("-kind", "name", "pk")


def recent_files(user, limit: int = 50):
    rows = live_nodes_for(user).files().order_by("-updated_at", "-pk")
    return with_thumbnails(nodes_shown(user, rows))[:limit]


def file_versions(node: Node):
    return FileVersion.objects.filter(node=node).select_related("blob").order_by("-number")
