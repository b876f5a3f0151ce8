"""Reads the drive's pages need on top of the shared selectors."""

from functools import cached_property

from django.db.models import Exists, OuterRef

from files.models import FileVersion
from folders.models import Node, NodeKind, Star
from folders.selectors import live_nodes_for, nodes_shown
from previews.models import Preview, PreviewStatus, PreviewType
from storage_site.core.pagination import KeyedList

# ?sort= → the listing's order; folders always come first, ties broken by id.
SORTS = {"name": ("name",), "size": ("size",), "modified": ("updated_at",)}


class FoldersFirst(KeyedList):
    """A folder's entries, folders first: a page's keys come from the folders, then the
    files, each read in its own order. One list ordered `kind DESC, name ASC` would sort
    the whole folder on every page, since the children index holds kinds ascending."""

    def __init__(self, rows, *, order: list[str], decorate):
        super().__init__(rows.order_by("-kind", *order), decorate=decorate)
        self.folders = rows.filter(kind=NodeKind.FOLDER).order_by(*order)
        self.files = rows.filter(kind=NodeKind.FILE).order_by(*order)

    @cached_property
    def folder_count(self) -> int:
        return self.folders.count()

    def page_keys(self, bottom: int, top: int) -> list[int]:
        split = self.folder_count
        keys = []
        if bottom < split:
            keys += self.folders.values_list("pk", flat=True)[bottom:min(top, split)]
        if top > split:
            keys += self.files.values_list("pk", flat=True)[max(0, bottom - split):top - split]
        return keys


def folder_entries(*, user, folder: Node, sort: str, descending: bool) -> KeyedList:
    """The folder's live entries in the asked order, folders first, paged in two steps (a
    page of a 10,000-entry folder reads one page of keys, then those rows)."""
    fields = SORTS.get(sort, SORTS["name"])
    order = [*(f"-{f}" if descending else f for f in fields), "-pk" if descending else "pk"]
    return FoldersFirst(live_nodes_for(user).filter(parent=folder), order=order,
                        decorate=lambda nodes: with_thumbnails(nodes_shown(user, nodes)))


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
