"""The WsgiDAV provider: a signed-in user's tree (home folder) as WebDAV resources.

Every write goes through the services the other APIs use (uploads, tree moves,
trash, copies), so a file written here is the same file everywhere, with its quota,
versions, journal entry and dedupe. WsgiDAV speaks the protocol; this module only
maps resources to nodes and service errors to DAV errors.
"""

import io
import time
from contextlib import contextmanager
from urllib.parse import unquote, urlparse

from wsgidav import util, xml_tools
from wsgidav.xml_tools import etree
from wsgidav.dav_error import (
    HTTP_BAD_REQUEST,
    HTTP_CONFLICT,
    HTTP_FORBIDDEN,
    HTTP_INSUFFICIENT_STORAGE,
    HTTP_NOT_FOUND,
    DAVError,
    as_DAVError,
)
from wsgidav.dav_provider import DAVCollection, DAVNonCollection, DAVProvider

from accounts.quota import quota_available
from files.models import FileVersion
from files.services import nodes as file_nodes
from folders import services as tree
from folders.models import Node
from storage_site.core import storage
from storage_site.core.exceptions import (
    ApplicationError,
    FileTooLarge,
    InvalidMove,
    InvalidName,
    NameConflict,
    NotFound,
    QuotaExceeded,
    StorageUnavailable,
)

from . import propfind, selectors, services

# The DAV error body's condition for a refused name (a namespace of our own: RFC 4918
# defines none for it).
INVALID_NAME = "{urn:stratus:dav}invalid-name"


@contextmanager
def dav_errors():
    """Service errors as DAV errors: a client gets a status it understands."""
    try:
        yield
    except QuotaExceeded as exc:
        raise DAVError(HTTP_INSUFFICIENT_STORAGE, exc.message) from None
    except InvalidName as exc:
        raise DAVError(HTTP_BAD_REQUEST, exc.message, err_condition=INVALID_NAME) from None
    except FileTooLarge as exc:
        raise DAVError(413, exc.message) from None
    except (NotFound, NameConflict) as exc:  # a folder gone meanwhile, a name taken meanwhile
        raise DAVError(HTTP_CONFLICT, exc.message) from None
    except InvalidMove as exc:  # into itself, too deep
        raise DAVError(HTTP_FORBIDDEN, exc.message) from None
    except StorageUnavailable as exc:
        raise DAVError(503, exc.message) from None
    except ApplicationError as exc:
        raise DAVError(exc.status_code if 400 <= exc.status_code < 500 else HTTP_BAD_REQUEST, exc.message) from None


_ABSENT = object()  # a live property this kind of resource does not have (404 in its propstat)


class _UnknownProperty(DAVError):
    """A name no live property answers for and this entry has no dead property of."""


def _resourcetype(res):
    if not res.is_collection:
        return ""  # an empty <resourcetype/>, as WsgiDAV answers, without making an element per file
    element = etree.Element("{DAV:}resourcetype")
    etree.SubElement(element, "{DAV:}collection")
    return element


_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _http_date(seconds: float) -> str:
    """RFC 1123 (`Sun, 06 Nov 1994 08:49:37 GMT`), as WsgiDAV's get_rfc1123_time writes it
    through email.utils at four times the cost (a listing writes 10,000)."""
    t = time.gmtime(seconds)
    return (f"{_DAYS[t.tm_wday]}, {t.tm_mday:02d} {_MONTHS[t.tm_mon - 1]} {t.tm_year} "
            f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} GMT")


# The properties every listing asks for, answered without WsgiDAV's chain of checks
# (a PROPFIND of 10,000 entries asks 60,000 times); None: ask WsgiDAV.
_LIVE_PROPERTIES = {
    "{DAV:}getlastmodified": lambda res: _http_date(res.get_last_modified()),
    "{DAV:}creationdate": lambda res: util.get_rfc3339_time(res.get_creation_date()),
    "{DAV:}getetag": lambda res: res.get_etag(),
    "{DAV:}displayname": lambda res: res.get_display_name(),
    "{DAV:}getcontentlength": lambda res: _ABSENT if res.is_collection else str(res.get_content_length()),
    "{DAV:}getcontenttype": lambda res: _ABSENT if res.is_collection else res.get_content_type(),
    "{DAV:}resourcetype": _resourcetype,
}


def _names(path: str) -> list[str]:
    return [part for part in path.split("/") if part]


class _Request:
    """What one request loads once: the user, their quota figures, the property names
    nothing answers for."""

    def __init__(self, environ):
        self.user = environ["stratus.user"]
        self._quota = self._home = None
        self._parent_of_missing: tuple[list[str], Node] | None = None
        self.unknown_properties: dict[str, DAVError] = {}

    def node_at(self, path: str) -> Node | None:
        names = _names(path)
        # A name that is not there is most often followed by its folder (WsgiDAV's PUT,
        # MKCOL, LOCK, COPY and MOVE ask for it next, before any write): the lookup that
        # missed found it already. Only the very next lookup may use it.
        after_miss, self._parent_of_missing = self._parent_of_missing, None
        if after_miss is not None and after_miss[0] == names:
            return after_miss[1]
        if not names:
            if self._home is None:
                self._home = selectors.home_get(user=self.user)
            return self._home
        chain = selectors.nodes_along(user=self.user, names=names, home=self._home)
        if len(chain) == len(names):
            return chain[-1]
        if len(chain) == len(names) - 1 > 0:
            self._parent_of_missing = (names[:-1], chain[-1])
        return None

    def quota(self) -> tuple[int, int]:
        if self._quota is None:
            self._quota = (self.user.storage_used, quota_available(self.user))
        return self._quota


def _request(environ) -> _Request:
    if "stratus.dav" not in environ:
        environ["stratus.dav"] = _Request(environ)
    return environ["stratus.dav"]


class _NodeResource:
    """What files and folders share: dates, names, dead properties."""

    node: Node

    def _setup(self, node: Node, properties: dict | None):
        self.node = node
        self._properties = properties

    @property
    def user(self):
        return _request(self.environ).user

    def get_creation_date(self):
        return self.node.created_at.timestamp()

    def get_last_modified(self):
        return self.node.updated_at.timestamp()

    def get_display_name(self):
        return self.node.name

    # --- dead properties, stored per node (they follow renames and moves) ---------

    def _dead(self) -> dict[str, str]:
        if self._properties is None:
            self._properties = selectors.dead_properties(node=self.node).get(self.node.pk, {})
        return self._properties

    def get_property_names(self, *, is_allprop):
        return super().get_property_names(is_allprop=is_allprop) + list(self._dead())

    def get_properties(self, mode, *, name_list=None):
        """As WsgiDAV's. A name that neither a live property nor a dead one answers for is
        not found whatever the entry (unless it has a dead property of that name), so after
        the first entry a listing answers it without asking again: an error raised per
        entry for each of them cost a third of a Nextcloud client's listing."""
        if mode != "named":
            return super().get_properties(mode, name_list=name_list)
        unknown = _request(self.environ).unknown_properties
        found = []
        for name in name_list:
            if name in unknown and name not in self._dead():
                found.append((name, unknown[name]))
                continue
            try:
                found.append((name, self.get_property_value(name)))
            except _UnknownProperty as error:
                unknown[name] = error
                found.append((name, error))
            except DAVError as error:
                found.append((name, error))
            except Exception as error:  # noqa: BLE001 - as WsgiDAV: one property's failure is its 500
                found.append((name, as_DAVError(error)))
        return found

    def get_property_value(self, name):
        fast = _LIVE_PROPERTIES.get(name)
        value = fast(self) if fast else None
        if value is _ABSENT:
            raise DAVError(HTTP_NOT_FOUND)
        if value is not None:
            return value
        if name.startswith("{DAV:}"):
            return super().get_property_value(name)
        value = self._dead().get(name)
        if value is None:
            raise _UnknownProperty(HTTP_NOT_FOUND)
        return xml_tools.string_to_xml(value.encode())

    def set_property_value(self, name, value, *, dry_run=False):
        """{DAV:} properties are WsgiDAV's (the live ones protected); any other is a dead
        property of the node, Windows' Win32 times and attributes included: Explorer sets
        them after each copy and reports an error for a refusal."""
        if name.startswith("{DAV:}"):
            return super().set_property_value(name, value, dry_run=dry_run)
        if not dry_run:
            services.property_set(node=self.node, name=name,
                                  value=None if value is None else xml_tools.xml_to_bytes(value, pretty=False).decode())
            self._properties = None

    def remove_all_properties(self, *, recursive):
        pass  # they stay with the node in the trash, and come back with it

    # --- writes --------------------------------------------------------------------

    def _target(self, dest_path: str) -> tuple[Node, str]:
        names = _names(dest_path)
        parent = _request(self.environ).node_at("/".join(names[:-1]))
        if parent is None or not parent.is_folder:
            raise DAVError(HTTP_CONFLICT, "The destination's folder does not exist.")
        return parent, names[-1]

    def _existing(self, parent: Node, name: str) -> Node | None:
        return tree.sibling_get(parent=parent, name=name)

    def support_recursive_move(self, dest_path):
        return True

    def move_recursive(self, dest_path):
        parent, name = self._target(dest_path)
        with dav_errors():
            tree.node_move(node=self.node, target=parent, name=tree.name_clean(name))
        self.remove_all_locks(recursive=True)
        return []

    def delete(self):
        with dav_errors():
            tree.node_trash(node=self.node)
        self.remove_all_locks(recursive=True)
        return []


class FileResource(_NodeResource, DAVNonCollection):
    """A file; `node` is None for a name a PUT is about to create."""

    def __init__(self, path, environ, node: Node | None, *, parent: Node | None = None, properties=None):
        super().__init__(path, environ)
        self._setup(node, properties)
        self.parent = parent

    def get_content_length(self):
        return self.node.size if self.node else 0

    def get_content_type(self):
        return (self.node.mime_type if self.node else "") or "application/octet-stream"

    def get_etag(self):
        return self.node.sha256 if self.node else None

    def support_etag(self):
        return self.node is not None

    def support_ranges(self):
        return True

    def get_display_name(self):
        return self.node.name if self.node else util.get_uri_name(self.path)

    def get_content(self):
        version = FileVersion.objects.select_related("blob").get(node=self.node, number=self.node.version)
        path = storage.local_path(version.blob.storage_key)
        return open(path, "rb") if path else _ObjectReader(version.blob.storage_key, version.size)

    def begin_write(self, *, content_type=None):
        return _BodyWriter(self, content_type)

    def end_write(self, *, with_errors):
        pass

    def store(self, stream, content_type: str | None) -> None:
        """Take the request body as this file's content (new file or new version)."""
        length = self.environ.get("CONTENT_LENGTH")
        size = int(length) if length not in (None, "") else None
        parent = self.parent
        if parent is None and self.node is None:
            raise DAVError(HTTP_CONFLICT)
        with dav_errors():
            self.node = services.dav_file_store(user=self.user, folder=parent, name=util.get_uri_name(self.path),
                                                node=self.node, stream=stream, size=size,
                                                content_type=content_type)

    def copy_move_single(self, dest_path, *, is_move):
        parent, name = self._target(dest_path)
        with dav_errors():
            if is_move:
                tree.node_move(node=self.node, target=parent, name=tree.name_clean(name))
                return
            existing = self._existing(parent, name)
            if existing is not None:  # a COPY of a folder onto one: the same-named entry is replaced
                tree.node_trash(node=existing)
            copy = file_nodes.node_copy(user=self.user, node=self.node, target=parent, name=name)
            services.properties_copy(source=self.node, target=copy)


class FolderResource(_NodeResource, DAVCollection):
    def __init__(self, path, environ, node: Node, *, etag: str | None = None, properties=None):
        super().__init__(path, environ)
        self._setup(node, properties)
        self._etag = etag

    def get_etag(self):
        if self._etag is None:
            self._etag = selectors.folder_etags(folder=self.node).get(self.node.pk, "")
        return self._etag

    def support_etag(self):
        return True

    def get_display_name(self):
        return self.node.name or "Home"

    def get_used_bytes(self):
        return _request(self.environ).quota()[0]

    def get_available_bytes(self):
        return _request(self.environ).quota()[1]

    def _child_path(self, name: str) -> str:
        return self.path.rstrip("/") + "/" + name

    def get_member_names(self):
        return [child.name for child in selectors.children_of(self.node)]

    def get_member(self, name):
        child = _request(self.environ).node_at(self._child_path(name))
        return self.provider.resource_for(self._child_path(name), self.environ, child)

    def get_member_list(self):
        return list(self.members())

    def members(self):
        """Every entry with what PROPFIND shows, made as they are read (a PROPFIND writes
        them out as they come), in three queries whatever their number."""
        etags = selectors.folder_etags(parent=self.node)
        properties = selectors.dead_properties(parent=self.node)
        for child in selectors.children_of(self.node):
            yield self.provider.resource_for(self._child_path(child.name), self.environ, child,
                                             etag=etags.get(child.pk, ""), properties=properties.get(child.pk, {}))

    def create_empty_resource(self, name):
        with dav_errors():
            name = tree.name_clean(name)
            if self.environ["REQUEST_METHOD"] == "LOCK":  # a lock on an unmapped name makes an empty file
                node = services.dav_file_store(user=self.user, folder=self.node, name=name, node=None,
                                               stream=io.BytesIO(), size=0, content_type=None)
                return FileResource(self._child_path(name), self.environ, node)
        return FileResource(self._child_path(name), self.environ, None, parent=self.node)

    def create_collection(self, name):
        with dav_errors():
            folder = tree.folder_create(user=self.user, parent=self.node, name=tree.name_clean(name))
        return FolderResource(self._child_path(name), self.environ, folder)

    def support_recursive_delete(self):
        return True

    def copy_move_single(self, dest_path, *, is_move):
        """The folder alone (WsgiDAV copies its entries one by one after it)."""
        parent, name = self._target(dest_path)
        with dav_errors():
            folder = self._existing(parent, name)
            if folder is not None and not folder.is_folder:
                tree.node_trash(node=folder)
                folder = None
            if folder is None:  # else a COPY onto a folder: WsgiDAV merges the entries into it
                folder = tree.folder_create(user=self.user, parent=parent, name=tree.name_clean(name))
                services.properties_copy(source=self.node, target=folder)

    def move_recursive(self, dest_path):
        if self.node.is_root:
            raise DAVError(HTTP_FORBIDDEN, "The top folder cannot be moved.")
        return super().move_recursive(dest_path)

    def delete(self):
        if self.node.is_root:
            raise DAVError(HTTP_FORBIDDEN, "The top folder cannot be deleted.")
        return super().delete()


class StratusProvider(DAVProvider):
    """Each signed-in user sees their own home folder at the root."""

    def custom_request_handler(self, environ, start_response, default_handler):
        method = environ["REQUEST_METHOD"]
        if method == "PROPFIND":
            return propfind.propfind(default_handler.__self__, environ, start_response)
        if method in ("COPY", "MOVE") and environ.get("HTTP_DESTINATION"):
            # WsgiDAV refuses a destination below the source; one above it (its own folder,
            # "x/..") would be replaced, source and all, before the move.
            destination = util.normalize_path(urlparse(unquote(environ["HTTP_DESTINATION"])).path)
            if destination.startswith(self.mount_path + "/"):
                destination = destination[len(self.mount_path):]
            if util.is_child_uri(destination, environ["PATH_INFO"]):
                raise DAVError(HTTP_FORBIDDEN, "The destination holds the source.")
        return default_handler(environ, start_response)

    def get_resource_inst(self, path, environ):
        node = _request(environ).node_at(path)
        return self.resource_for(path, environ, node)

    def resource_for(self, path, environ, node: Node | None, *, etag=None, properties=None):
        if node is None:
            return None
        if node.is_folder:
            return FolderResource(path, environ, node, etag=etag, properties=properties)
        return FileResource(path, environ, node, properties=properties)


class _BodyWriter:
    """What WsgiDAV writes a PUT body to: it hands over the whole body as an iterator
    (`writelines`), which becomes a stream for the upload service, read as it arrives."""

    def __init__(self, resource: FileResource, content_type: str | None):
        self.resource, self.content_type = resource, content_type

    def writelines(self, chunks):
        self.resource.store(_IterStream(chunks), self.content_type)

    def close(self):
        pass


class _IterStream:
    """An iterator of byte strings as a readable stream."""

    def __init__(self, chunks):
        self._chunks, self._rest = iter(chunks), b""

    def read(self, size=-1):
        while not self._rest:
            try:
                self._rest = next(self._chunks)
            except StopIteration:
                return b""
        if size is None or size < 0:
            size = len(self._rest)
        data, self._rest = self._rest[:size], self._rest[size:]
        return data


class _ObjectReader:
    """A stored object as the seekable file WsgiDAV reads a GET (or a range) from:
    one streamed ranged GET from wherever it was last sought to."""

    def __init__(self, key: str, size: int):
        self.key, self.size, self.position = key, size, 0
        self._chunks, self._rest = None, b""

    def seek(self, offset, whence=0):
        self.position = offset if whence == 0 else self.position + offset if whence == 1 else self.size + offset
        self._chunks, self._rest = None, b""
        return self.position

    def read(self, size=-1):
        if self.position >= self.size:
            return b""
        if self._chunks is None:
            self._chunks = storage.read_range(self.key, self.position)
        while not self._rest:
            self._rest = next(self._chunks, b"")
            if not self._rest:
                return b""
        if size is None or size < 0:
            size = len(self._rest)
        data, self._rest = self._rest[:size], self._rest[size:]
        self.position += len(data)
        return data

    def close(self):
        if self._chunks is not None:
            self._chunks.close()
