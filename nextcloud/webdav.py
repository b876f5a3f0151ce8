"""Nextcloud's WebDAV: `/remote.php/dav/files/{userid}/...` and the older
`/remote.php/webdav/...`, served by the provider of /dav/ (the same resources, the
same services, the same paths for locks and dead properties) with Nextcloud's
properties added, and answered with the namespace prefixes (`d:`, `oc:`, `nc:`)
the Nextcloud clients and libraries read literally.
"""

import functools
import io
from contextlib import contextmanager
from xml.sax.saxutils import escape
from urllib.parse import quote, unquote, urlparse, urlunparse

from django.core.exceptions import RequestDataTooBig
from django.http import HttpResponse, StreamingHttpResponse
from wsgidav import util
from wsgidav.dav_error import HTTP_FORBIDDEN, HTTP_NOT_FOUND, DAVError, get_http_status_string
from wsgidav.wsgidav_app import WsgiDAVApp
from wsgidav.xml_tools import etree

from dav import propfind
from dav import selectors as dav_selectors
from dav.provider import FileResource, FolderResource, StratusProvider
from dav.views import dav_config
from folders import services as tree
from storage_site.core.exceptions import ApplicationError, QuotaExceeded

from . import checksums, selectors, services

OC, NC = "http://owncloud.org/ns", "http://nextcloud.org/ns"
NAMESPACES = {"d": "DAV:", "s": "http://sabredav.org/ns", "oc": OC, "nc": NC}

FAVORITE = f"{{{OC}}}favorite"

# Nextcloud's permission letters: G read, D delete, N rename, V move, W write a file,
# C create a file, K create a folder, R share (public links are made for files only).
FILE_PERMISSIONS, FOLDER_PERMISSIONS, HOME_PERMISSIONS = "RGDNVW", "GDNVCK", "GCK"
PUBLIC_LINK = "3"  # Nextcloud's share type of a public link
SERVED = "stratus.nextcloud.served"  # the environ entry where a GET leaves the file it served


class _Facts:
    """What Nextcloud's properties need beyond the node, loaded on first use for one
    node, for every entry of a listing or for a list of found nodes at once (a query
    each, whatever its size). Nodes are looked up by `node.id`: Django's `pk` property
    costs a lookup of its own, asked several times for each entry of a listing."""

    def __init__(self, user, *, node=None, parent=None, nodes=None):
        self.user, self.scope = user, {"node": node, "parent": parent, "nodes": nodes}
        self._favorites = self._thumbnails = self._sizes = self._mtimes = self._shared = self._checksums = None

    def _one_file(self) -> bool:
        """For one file (a GET, a HEAD, a PROPFIND of it): its kept time and checksum in
        one query (a download answers both)."""
        node = self.scope["node"]
        if node is None or node.is_folder:
            return False
        mtime, checksum = selectors.content_facts(node=node)
        self._mtimes = {node.pk: mtime} if mtime is not None else {}
        self._checksums = {node.pk: checksum} if checksum else {}
        return True

    def client_checksum(self, node) -> str | None:
        if self._checksums is None and not self._one_file():
            self._checksums = selectors.client_checksums(**self.scope)
        return self._checksums.get(node.id)

    def shared(self, node) -> bool:
        if self._shared is None:
            self._shared = selectors.shared_by_link(**self.scope)
        return node.id in self._shared

    def mtime(self, node) -> float | None:
        if self._mtimes is None and not self._one_file():
            self._mtimes = selectors.client_mtimes(**self.scope)
        return self._mtimes.get(node.id)

    def favorite(self, node) -> bool:
        if self._favorites is None:
            self._favorites = selectors.favorites(user=self.user, **self.scope)
        return node.id in self._favorites

    def has_preview(self, node) -> bool:
        if self._thumbnails is None:
            self._thumbnails = selectors.with_thumbnail(**self.scope)
        return node.id in self._thumbnails

    def folder_size(self, node) -> int:
        if self._sizes is None:
            self._sizes = selectors.folder_sizes(folder=self.scope["node"], parent=self.scope["parent"],
                                                 nodes=self.scope["nodes"])
        return self._sizes.get(node.id, 0)


def _checksums(res):
    if res.is_collection or not res.node.sha256:
        return None
    # One <oc:checksum>, space-separated, as Nextcloud writes several: SHA-256 always,
    # then the client's own (OC-Checksum) when it sent one.
    client = res.facts().client_checksum(res.node)
    return propfind.Markup(f"<oc:checksum>SHA256:{res.node.sha256}{' ' + escape(client) if client else ''}"
                           "</oc:checksum>")


_SHARED, _NOT_SHARED = propfind.Markup(f"<oc:share-type>{PUBLIC_LINK}</oc:share-type>"), propfind.Markup()


def _share_types(res):
    return _SHARED if not res.is_collection and res.facts().shared(res.node) else _NOT_SHARED


def _permissions(res) -> str:
    if not res.is_collection:
        return FILE_PERMISSIONS
    return HOME_PERMISSIONS if res.node.is_root else FOLDER_PERMISSIONS


_PROPERTIES = {
    f"{{{OC}}}fileid": lambda res: str(res.node.id),
    f"{{{OC}}}id": lambda res: selectors.file_id(res.node.id),
    f"{{{OC}}}permissions": _permissions,
    f"{{{OC}}}size": lambda res: str(res.facts().folder_size(res.node) if res.is_collection else res.node.size),
    f"{{{OC}}}checksums": _checksums,
    FAVORITE: lambda res: "1" if res.facts().favorite(res.node) else "0",
    f"{{{NC}}}has-preview": lambda res: "false" if res.is_collection else
    ("true" if res.facts().has_preview(res.node) else "false"),
    f"{{{OC}}}owner-id": lambda res: res.user.username,
    f"{{{OC}}}owner-display-name": lambda res: res.user.full_name or res.user.username,
    f"{{{OC}}}share-types": _share_types,
    f"{{{NC}}}upload_time": lambda res: str(int(res.node.created_at.timestamp())),
    f"{{{NC}}}creation_time": lambda res: str(int(res.node.created_at.timestamp())),
    f"{{{NC}}}is-encrypted": lambda res: "0",
    f"{{{OC}}}data-fingerprint": lambda res: "",
}


class _Nextcloud:
    """Nextcloud's properties and URLs on the resources of the /dav/ provider."""

    _facts = None

    def facts(self) -> _Facts:
        if self._facts is None:
            self._facts = _Facts(self.user, node=self.node)
        return self._facts

    def get_href(self):
        # As WsgiDAV's, below the URL of this request's tree (which carries the user id)
        # rather than a fixed mount.
        return quote(self.environ["SCRIPT_NAME"] + self.get_preferred_path(), safe="/!*'(),$-_|.")

    def get_last_modified(self):
        mtime = None if self.is_collection or self.node is None else self.facts().mtime(self.node)
        return mtime if mtime is not None else super().get_last_modified()

    def set_property_value(self, name, value, *, dry_run=False):
        if name != FAVORITE:
            return super().set_property_value(name, value, dry_run=dry_run)
        if not dry_run:  # the star of the other APIs, not a property of its own
            tree.star_set(user=self.user, node=self.node, starred=value is not None and (value.text or "") == "1")
            self._facts = None

    def get_property_value(self, name):
        render = _PROPERTIES.get(name)
        if render is None or self.node is None:
            return super().get_property_value(name)
        value = render(self)
        if value is None:
            raise DAVError(HTTP_NOT_FOUND)
        return value


class NextcloudFile(_Nextcloud, FileResource):
    def get_content(self):
        # The file a GET serves, for its answer's OC-Checksum (`answer_headers`): its path
        # is not walked again.
        served = self.environ.get(SERVED)
        if served is not None:
            served["file"] = self
        return super().get_content()


class NextcloudFolder(_Nextcloud, FolderResource):
    def members(self):
        facts = _Facts(self.user, parent=self.node)
        for member in super().members():
            member._facts = facts
            yield member


class NextcloudProvider(StratusProvider):
    def custom_request_handler(self, environ, start_response, default_handler):
        method = environ["REQUEST_METHOD"]
        if method == "PROPFIND":
            return propfind.propfind(default_handler.__self__, environ, start_response, render=multistatus)
        if method in ("COPY", "MOVE") and environ.get("HTTP_DESTINATION"):
            environ["HTTP_DESTINATION"] = _below_mount(environ, environ["HTTP_DESTINATION"])
        return super().custom_request_handler(environ, start_response, default_handler)

    def resource_for(self, path, environ, node, *, etag=None, properties=None):
        if node is None:
            return None
        if node.is_folder:
            return NextcloudFolder(path, environ, node, etag=etag, properties=properties)
        return NextcloudFile(path, environ, node, properties=properties)


def _below_mount(environ, destination: str) -> str:
    """A COPY or MOVE Destination as WsgiDAV, serving the tree at /, expects it; one
    outside this user's Nextcloud URL (another user's id, /dav/) is refused."""
    parts = urlparse(destination)
    path, mount = unquote(parts.path), environ["SCRIPT_NAME"]
    if not path.startswith(mount + "/"):
        raise DAVError(HTTP_FORBIDDEN, "The destination is outside your files.")
    return urlunparse(parts._replace(path=quote(path[len(mount):])))


def multistatus(resources, mode: str, names):
    """dav.propfind's streamed multistatus, with Nextcloud's prefixes."""
    return propfind.multistatus(resources, mode, names, prefixes={uri: prefix for prefix, uri in NAMESPACES.items()})


@functools.cache
def nextcloud_app() -> WsgiDAVApp:
    config = dav_config()
    del config["mount_path"]  # each request's tree is at its own URL (it names the user)
    config["provider_mapping"] = {"/": NextcloudProvider()}
    return WsgiDAVApp(config)


def mtime_parse(value: str) -> float | None:
    """An X-OC-Mtime header's seconds since 1970; None when it is not one."""
    try:
        mtime = float(value)
    except ValueError:
        return None
    return mtime if 0 <= mtime < 2 ** 40 else None  # NaN and infinities fail too


def answer_headers(response, *, user, method: str, path: str, mtime: float | None = None, node=None,
                   checksum: str | None = None, served: dict | None = None) -> None:
    """What a Nextcloud client reads after a PUT, MKCOL, MOVE or COPY (or the MOVE that
    ends a chunked upload, which names its `node`; `path` is then the destination's):
    the entry's OC-FileId, and its etag as OC-ETag and ETag; after a PUT with
    X-OC-Mtime, that it was kept; a verified OC-Checksum is kept with the content. A
    download answers the checksum kept with its content, as Nextcloud does (`served`: where
    the GET left the file it served)."""
    if method in ("GET", "HEAD"):
        if response.status_code == 200:
            _download_checksum(response, user=user, path=path, file=(served or {}).get("file"))
        return
    if method not in ("PUT", "MKCOL", "MOVE", "COPY") or response.status_code not in (201, 204):
        return
    node = node or dav_selectors.node_at(user=user, names=[name for name in path.split("/") if name])
    if node is None:
        return
    etag = dav_selectors.folder_etags(folder=node).get(node.pk, "") if node.is_folder else node.sha256
    response["OC-FileId"] = selectors.file_id(node.pk)
    response["OC-ETag"] = f'"{etag}"'
    if not response.has_header("ETag"):
        response["ETag"] = f'"{etag}"'
    if mtime is not None and not node.is_folder:
        services.file_mtime_set(node=node, mtime=mtime)
        response["X-OC-MTime"] = "accepted"
    if checksum and not node.is_folder and not checksum.startswith("SHA256:"):  # SHA-256 every file has
        services.file_checksum_set(node=node, checksum=checksum)


def _download_checksum(response, *, user, path: str, file=None) -> None:
    """The checksum its client uploaded the content with, none for other content: the
    desktop app verifies a download against it, and a file's SHA-256 would cost it more
    than the transfer (see the checksums capability)."""
    if file is not None:  # loaded with its Last-Modified
        kept = file.facts().client_checksum(file.node)
    else:
        node = dav_selectors.node_at(user=user, names=[name for name in path.split("/") if name])
        if node is None or node.is_folder:
            return
        kept = selectors.client_checksums(node=node).get(node.pk)
    if kept:
        response["OC-Checksum"] = checksums.render(checksums.checksum_parse(kept))


def refusal(status: int, message: str) -> HttpResponse:
    """A DAV error in the shape Nextcloud's server (SabreDAV) writes."""
    body = ('<?xml version="1.0" encoding="utf-8"?>\n<d:error xmlns:d="DAV:" xmlns:s="http://sabredav.org/ns">'
            f"<s:message>{escape(message)}</s:message></d:error>\n")
    return HttpResponse(body, status=status, content_type="application/xml; charset=utf-8")


# --- the trash bin's and versions' resources ----------------------------------------------------

DIRECTORY = "httpd/unix-directory"  # Nextcloud's content type of a folder


class Entry:
    """A resource that is not a node of the tree (a trash bin entry, a version): an
    href and its properties, rendered by `multistatus` as the files' are."""

    def __init__(self, href: str, properties: dict):
        self.href, self.properties = href, {name: value for name, value in properties.items() if value is not None}

    def get_href(self) -> str:
        return self.href

    def get_properties(self, mode: str, *, name_list=None):
        if mode == "name":
            return [(name, None) for name in self.properties]
        if mode == "allprop":
            return list(self.properties.items())
        return [(name, self.properties[name] if name in self.properties else DAVError(HTTP_NOT_FOUND))
                for name in name_list]


def resourcetype(*, collection: bool):
    element = etree.Element("{DAV:}resourcetype")
    if collection:
        etree.SubElement(element, "{DAV:}collection")
    return element


def http_date(when) -> str:
    return util.get_rfc1123_time(when.timestamp())


def _body(request) -> dict:
    """The request's (small) XML body as WsgiDAV reads one; past Django's limit on a body
    read into memory (DATA_UPLOAD_MAX_MEMORY_SIZE), DAVError 413."""
    try:
        body = request.body
    except RequestDataTooBig:
        raise DAVError(413, "The request body is too large.") from None
    return {"CONTENT_LENGTH": str(len(body)), "wsgi.input": io.BytesIO(body)}


def request_xml(request):
    """The request's XML body (None when empty); a body that is not XML raises DAVError 400."""
    return util.parse_xml_body(_body(request), allow_empty=True)


def propfind_request(request) -> tuple[str, list | None]:
    """A PROPFIND's mode ("allprop", "name", "named") and names, as /dav/ reads them."""
    return propfind._parse(_body(request))


def answer(entries, mode: str, names) -> StreamingHttpResponse:
    return StreamingHttpResponse(multistatus(entries, mode, names), status=207,
                                 content_type="application/xml; charset=utf-8")


def destination_path(request) -> str | None:
    """The path of a MOVE's or COPY's Destination header (decoded), None without one."""
    destination = request.headers.get("Destination")
    return unquote(urlparse(destination).path) if destination else None


@contextmanager
def as_dav_errors():
    """A DAV or service error as Nextcloud's DAV error answer (raised as `Refused`)."""
    try:
        yield
    except DAVError as exc:
        raise Refused(exc.value, exc.context_info or get_http_status_string(exc)) from None
    except QuotaExceeded as exc:  # as the files' own answer
        raise Refused(507, exc.message) from None
    except ApplicationError as exc:
        raise Refused(exc.status_code if 400 <= exc.status_code < 500 else 400, exc.message) from None


class Refused(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message

    def response(self) -> HttpResponse:
        return refusal(self.status, self.message)


def resources_of(*, user, nodes, paths: dict[int, str]) -> list:
    """Found nodes (a search's, favorites) as the resources of the user's Nextcloud
    files address, their properties loaded for all of them at once."""
    provider = nextcloud_app().provider_map["/"]
    environ = {"wsgidav.provider": provider, "stratus.user": user,
               "SCRIPT_NAME": "/remote.php/dav/files/" + user.username}
    facts = _Facts(user, nodes=nodes)
    found = []
    for node in nodes:
        resource = provider.resource_for("/" + paths[node.pk], environ, node)
        resource._facts = facts
        found.append(resource)
    return found
