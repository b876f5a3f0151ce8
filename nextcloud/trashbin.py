"""Nextcloud's trash bin over WebDAV, `/remote.php/dav/trashbin/{userid}/…`: `trash`
lists what the user deleted (the trash of the other APIs, one entry per delete),
MOVE of an entry to `restore/{name}` restores it, DELETE of an entry purges it and
DELETE of `trash` empties it. Where a restore goes and what a purge frees are the
services' rules; this module only names entries and writes Nextcloud's shapes."""

import re
from urllib.parse import quote

from django.http import HttpResponse

from files.services import nodes as file_nodes
from folders import selectors as folder_selectors
from folders import services as tree
from folders.models import Node

from . import selectors
from .webdav import DIRECTORY, NC, OC, Entry, Refused, answer, as_dav_errors, destination_path, http_date, \
    propfind_request, resourcetype

ROOT = "/remote.php/dav/trashbin/"
# Nextcloud names an entry `{name}.d{deletion time}`; here the number is the entry's
# file id, which no two entries share.
_ENTRY_NAME = re.compile(r"(?P<name>.+)\.d(?P<pk>\d{1,18})")


def entry_name(node: Node) -> str:
    return f"{node.name}.d{node.pk}"


def serve(request, user, rest: str) -> HttpResponse:
    """One request below `/remote.php/dav/trashbin/{userid}/`; `rest` is the path after it."""
    base = ROOT + user.username
    parts = [part for part in rest.split("/") if part]
    try:
        if request.method == "PROPFIND":
            return _propfind(request, user, base, parts)
        if request.method == "DELETE" and parts == ["trash"]:
            file_nodes.trash_empty(user=user)
            return HttpResponse(status=204)
        if request.method == "DELETE" and len(parts) == 2 and parts[0] == "trash":
            with as_dav_errors():
                file_nodes.trash_purge(user=user, node=_entry(user, parts[1]))
            return HttpResponse(status=204)
        if request.method == "MOVE" and len(parts) == 2 and parts[0] == "trash":
            return _restore(request, user, base, parts[1])
        if not parts or parts[0] not in ("trash", "restore") or len(parts) > 2:
            raise Refused(404, "No such entry in the trash bin.")
        raise Refused(405, f"{request.method} is not allowed here.")
    except Refused as refused:
        return refused.response()


def _entry(user, name: str) -> Node:
    """The trash entry a URL names (another user's is exactly a made-up one)."""
    match = _ENTRY_NAME.fullmatch(name)
    node = None
    if match:
        node = Node.objects.for_owner(user).filter(pk=int(match["pk"]), name=match["name"], trash_origin=True,
                                                   trashed_at__isnull=False).first()
    if node is None:
        raise Refused(404, "No such entry in the trash bin.")
    return node


def _restore(request, user, base: str, name: str) -> HttpResponse:
    node = _entry(user, name)
    destination = destination_path(request)
    if destination is None or not destination.startswith(base + "/restore/"):
        raise Refused(403, "A trash bin entry is restored by a MOVE to restore/ of your own trash bin.")
    with as_dav_errors():
        tree.node_restore(node=node)
    return HttpResponse(status=201)


def _propfind(request, user, base: str, parts: list[str]) -> HttpResponse:
    with as_dav_errors():
        mode, names = propfind_request(request)
    deep = request.headers.get("Depth", "infinity") != "0"
    if not parts:  # the user's trash bin: its two collections
        entries = [_collection(base + "/")]
        if deep:
            entries += [_collection(base + "/trash/"), _collection(base + "/restore/")]
    elif parts == ["trash"]:
        entries = [_collection(base + "/trash/")]
        if deep:
            entries += _entries(user, base, list(folder_selectors.trash_for(user)))
    elif parts == ["restore"]:
        entries = [_collection(base + "/restore/")]
    elif len(parts) == 2 and parts[0] == "trash":
        entries = _entries(user, base, [_entry(user, parts[1])])
    else:
        raise Refused(404, "No such entry in the trash bin.")
    return answer(entries, mode, names)


def _collection(href: str) -> Entry:
    return Entry(href, {"{DAV:}resourcetype": resourcetype(collection=True)})


def _entries(user, base: str, nodes: list[Node]) -> list[Entry]:
    """The entries' properties, in three queries whatever their number."""
    locations = selectors.home_paths(nodes)
    sizes = selectors.trash_sizes(user=user, batches=[node.trash_batch for node in nodes if node.is_folder])
    entries = []
    for node in nodes:
        size = sizes.get(node.trash_batch, 0) if node.is_folder else node.size
        href = f"{base}/trash/{quote(entry_name(node))}" + ("/" if node.is_folder else "")
        entries.append(Entry(href, {
            "{DAV:}resourcetype": resourcetype(collection=node.is_folder),
            "{DAV:}displayname": node.name,
            "{DAV:}getcontentlength": None if node.is_folder else str(node.size),
            "{DAV:}getcontenttype": DIRECTORY if node.is_folder else node.mime_type or "application/octet-stream",
            "{DAV:}getlastmodified": http_date(node.updated_at),
            "{DAV:}getetag": f'"{node.sha256 or node.trash_batch}"',
            f"{{{OC}}}fileid": str(node.pk),
            f"{{{OC}}}id": selectors.file_id(node.pk),
            f"{{{OC}}}size": str(size),
            f"{{{OC}}}permissions": "GD",
            f"{{{NC}}}trashbin-filename": node.name,
            f"{{{NC}}}trashbin-original-location": locations[node.pk],
            f"{{{NC}}}trashbin-deletion-time": str(int(node.trashed_at.timestamp())),
        }))
    return entries
