"""Nextcloud's WebDAV: `/remote.php/dav/files/{userid}/...` and the older
`/remote.php/webdav/...`, served by the provider of /dav/ (the same resources, the
same services, the same paths for locks and dead properties) with Nextcloud's
properties added, and answered with the namespace prefixes (`d:`, `oc:`, `nc:`)
the Nextcloud clients and libraries read literally.
"""

import functools
from xml.sax.saxutils import escape
from urllib.parse import quote, unquote, urlparse, urlunparse

from django.http import HttpResponse
from wsgidav.dav_error import HTTP_FORBIDDEN, HTTP_NOT_FOUND, DAVError
from wsgidav.wsgidav_app import WsgiDAVApp
from wsgidav.xml_tools import etree

from dav import propfind
from dav import selectors as dav_selectors
from dav.provider import FileResource, FolderResource, StratusProvider
from dav.views import dav_config
from folders import services as tree

from . import selectors, services

OC, NC = "http://owncloud.org/ns", "http://nextcloud.org/ns"
NAMESPACES = {"d": "DAV:", "s": "http://sabredav.org/ns", "oc": OC, "nc": NC}

FAVORITE = f"{{{OC}}}favorite"

# Nextcloud's permission letters: G read, D delete, N rename, V move, W write a file,
# C create a file, K create a folder, R share (public links are made for files only).
FILE_PERMISSIONS, FOLDER_PERMISSIONS, HOME_PERMISSIONS = "RGDNVW", "GDNVCK", "GCK"
PUBLIC_LINK = "3"  # Nextcloud's share type of a public link


class _Facts:
    """What Nextcloud's properties need beyond the node, loaded on first use for one
    node or for every entry of a listing at once (a query each, whatever its size)."""

    def __init__(self, user, *, node=None, parent=None):
        self.user, self.scope = user, {"node": node, "parent": parent}
        self._favorites = self._thumbnails = self._sizes = self._mtimes = self._shared = None

    def shared(self, node) -> bool:
        if self._shared is None:
            self._shared = selectors.shared_by_link(**self.scope)
        return node.pk in self._shared

    def mtime(self, node) -> float | None:
        if self._mtimes is None:
            self._mtimes = selectors.client_mtimes(**self.scope)
        return self._mtimes.get(node.pk)

    def favorite(self, node) -> bool:
        if self._favorites is None:
            self._favorites = selectors.favorites(user=self.user, **self.scope)
        return node.pk in self._favorites

    def has_preview(self, node) -> bool:
        if self._thumbnails is None:
            self._thumbnails = selectors.with_thumbnail(**self.scope)
        return node.pk in self._thumbnails

    def folder_size(self, node) -> int:
        if self._sizes is None:
            self._sizes = selectors.folder_sizes(folder=self.scope["node"], parent=self.scope["parent"])
        return self._sizes.get(node.pk, 0)


def _checksums(res):
    if res.is_collection or not res.node.sha256:
        return None
    element = etree.Element(f"{{{OC}}}checksums")
    etree.SubElement(element, f"{{{OC}}}checksum").text = "SHA256:" + res.node.sha256
    return element


def _share_types(res):
    element = etree.Element(f"{{{OC}}}share-types")
    if not res.is_collection and res.facts().shared(res.node):
        etree.SubElement(element, f"{{{OC}}}share-type").text = PUBLIC_LINK
    return element


def _permissions(res) -> str:
    if not res.is_collection:
        return FILE_PERMISSIONS
    return HOME_PERMISSIONS if res.node.is_root else FOLDER_PERMISSIONS


_PROPERTIES = {
    f"{{{OC}}}fileid": lambda res: str(res.node.pk),
    f"{{{OC}}}id": lambda res: selectors.file_id(res.node.pk),
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
    pass


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


def answer_headers(response, *, user, method: str, path: str, mtime: float | None = None) -> None:
    """What a Nextcloud client reads after a PUT or MKCOL: the entry's OC-FileId, and
    its etag as OC-ETag and ETag; after a PUT with X-OC-Mtime, that it was kept."""
    if method not in ("PUT", "MKCOL") or response.status_code not in (201, 204):
        return
    node = dav_selectors.node_at(user=user, names=[name for name in path.split("/") if name])
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


def refusal(status: int, message: str) -> HttpResponse:
    """A DAV error in the shape Nextcloud's server (SabreDAV) writes."""
    body = ('<?xml version="1.0" encoding="utf-8"?>\n<d:error xmlns:d="DAV:" xmlns:s="http://sabredav.org/ns">'
            f"<s:message>{escape(message)}</s:message></d:error>\n")
    return HttpResponse(body, status=status, content_type="application/xml; charset=utf-8")
