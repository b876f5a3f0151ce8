"""Nextcloud's file versions over WebDAV, `/remote.php/dav/versions/{userid}/…`:
`versions/{fileid}` lists a file's versions (the versions of the other APIs, the
current one included, newest first), GET of `versions/{fileid}/{number}` gives a
version's bytes (with Range), MOVE of one to `restore/…` makes it current again as a
new version. The rules are the versions service's."""

from django.http import HttpResponse

from files.api import downloads
from files.models import FileVersion
from files.services import versions as file_versions

from . import selectors
from .webdav import OC, Entry, Refused, answer, as_dav_errors, destination_path, http_date, propfind_request, \
    resourcetype

ROOT = "/remote.php/dav/versions/"


def serve(request, user, rest: str) -> HttpResponse:
    """One request below `/remote.php/dav/versions/{userid}/`; `rest` is the path after it."""
    base = ROOT + user.username
    parts = [part for part in rest.split("/") if part]
    try:
        if parts in ([], ["versions"], ["restore"]) and request.method == "PROPFIND":
            return _propfind(request, [_collection(base + "/" + "".join(part + "/" for part in parts))])
        if parts[:1] != ["versions"] or len(parts) not in (2, 3):
            raise Refused(404, "No such file or version.")
        node = _file(user, parts[1])
        href = f"{base}/versions/{node.pk}"
        if len(parts) == 2:
            if request.method != "PROPFIND":
                raise Refused(405, f"{request.method} is not allowed here.")
            listed = [_collection(href + "/")]
            if request.headers.get("Depth", "infinity") != "0":
                listed += [_version(href, version) for version in _versions(node)]
            return _propfind(request, listed)
        with as_dav_errors():
            version = file_versions.version_get(node=node, number=parts[2])
        if request.method in ("GET", "HEAD"):
            return downloads.stream_version(request, version, name=node.name)
        if request.method == "PROPFIND":
            return _propfind(request, [_version(href, version)])
        if request.method == "MOVE":
            return _restore(request, user, base, node, version)
        raise Refused(405, f"{request.method} is not allowed here.")
    except Refused as refused:
        return refused.response()


def _file(user, file_id: str):
    """The user's live file by `oc:fileid`, or by `oc:id` as some clients name it
    (another user's is exactly a made-up one)."""
    digits = file_id.removesuffix(selectors.instance_id()) if len(file_id) > 12 else file_id
    node = selectors.own_file(user=user, file_id=int(digits)) if digits.isdigit() and len(digits) < 19 else None
    if node is None:
        raise Refused(404, "No such file or version.")
    return node


def _versions(node) -> list[FileVersion]:
    return list(FileVersion.objects.filter(node=node).select_related("blob").order_by("-number"))


def _restore(request, user, base: str, node, version) -> HttpResponse:
    destination = destination_path(request)
    if destination is None or not destination.startswith(base + "/restore/"):
        raise Refused(403, "A version is restored by a MOVE to restore/ of your own versions.")
    with as_dav_errors():
        file_versions.version_restore(user=user, node=node, number=version.number)
    return HttpResponse(status=204)


def _propfind(request, entries) -> HttpResponse:
    with as_dav_errors():
        mode, names = propfind_request(request)
    return answer(entries, mode, names)


def _collection(href: str) -> Entry:
    return Entry(href, {"{DAV:}resourcetype": resourcetype(collection=True)})


def _version(href: str, version: FileVersion) -> Entry:
    return Entry(f"{href}/{version.number}", {
        "{DAV:}resourcetype": resourcetype(collection=False),
        "{DAV:}getcontentlength": str(version.size),
        "{DAV:}getcontenttype": version.mime_type or "application/octet-stream",
        "{DAV:}getlastmodified": http_date(version.created_at),
        "{DAV:}getetag": f'"{version.blob.sha256}"',
        f"{{{OC}}}fileid": str(version.node_id),
        f"{{{OC}}}size": str(version.size),
    })
