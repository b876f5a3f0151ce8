"""PROPFIND answered as a stream: the entries are read from the database while the
multistatus goes out a batch at a time, so a folder of 10,000 entries never sits in
memory, as entries or as XML.

Depth infinity is refused (403 with `propfind-finite-depth`): a client walks the
tree with Depth 1, and folder etags tell it where nothing changed. The request is
read, and each entry's properties gathered, by WsgiDAV's own functions, as its
do_PROPFIND does; the answer is written here.
"""

from itertools import chain
from xml.sax.saxutils import escape, quoteattr

from wsgidav import util
from wsgidav.dav_error import (
    HTTP_BAD_REQUEST,
    HTTP_FORBIDDEN,
    HTTP_NOT_FOUND,
    PRECONDITION_CODE_PropfindFiniteDepth,
    DAVError,
    get_http_status_string,
)
from wsgidav.xml_tools import etree

BATCH = 200  # entries per piece of the answer


class Markup(str):
    """A property's content that is XML already, escaped and in the prefixes of the
    answer it goes into (a dialect's own elements, written as text instead of built as
    lxml elements and written out again)."""


def propfind(server, environ, start_response, render=None):
    """`server` is WsgiDAV's RequestServer of this request (its If-header checks);
    `render(resources, mode, names)` writes the multistatus (a dialect's own) from an
    iterable of resources, read once."""
    depth = environ.setdefault("HTTP_DEPTH", "infinity")  # RFC 4918: no Depth means infinity
    if depth == "infinity":
        raise DAVError(HTTP_FORBIDDEN, "Depth: infinity is not served; use Depth: 1.",
                       err_condition=PRECONDITION_CODE_PropfindFiniteDepth)
    if depth not in ("0", "1"):
        raise DAVError(HTTP_BAD_REQUEST, f"Invalid Depth header: {depth!r}.")
    res = server._davProvider.get_resource_inst(environ["PATH_INFO"], environ)
    if res is None:
        raise DAVError(HTTP_NOT_FOUND)
    server._evaluate_if_headers(res, environ)
    mode, names = _parse(environ)
    # The entries are read from the database while the answer is written.
    resources = chain([res], res.members()) if depth == "1" and res.is_collection else [res]
    start_response("207 Multi-Status", [("Content-Type", "application/xml; charset=utf-8"),
                                        ("Date", util.get_rfc1123_time())])
    return (render or multistatus)(resources, mode, names)


def _parse(environ) -> tuple[str, list[str] | None]:
    request = util.parse_xml_body(environ, allow_empty=True)
    if request is None:  # an empty body asks for every property
        return "allprop", None
    if request.tag != "{DAV:}propfind":
        raise DAVError(HTTP_BAD_REQUEST)
    mode, names = None, []
    for node in request:
        if node.tag in ("{DAV:}allprop", "{DAV:}propname", "{DAV:}prop") and mode:
            raise DAVError(HTTP_BAD_REQUEST)  # RFC: one of them only
        if node.tag == "{DAV:}allprop":
            mode = "allprop"
        elif node.tag == "{DAV:}propname":
            mode = "name"
        elif node.tag == "{DAV:}prop":
            mode = "named"
            names = [child.tag for child in node]
    return mode or "allprop", names if mode == "named" else None


def multistatus(resources, mode: str, names, *, prefixes: dict[str, str] | None = None):
    """The 207 body, a batch of entries at a time. `prefixes` maps namespace URIs to the
    prefixes written (a dialect whose clients read prefixes literally passes its own).

    The entries are written as text rather than built as lxml trees: building and
    serialising lxml elements cost three quarters of a 10,000-entry answer. Every name
    and text is escaped here; a property value that is XML (resourcetype, locks, dead
    properties) is written from its element, by lxml when it is not a plain one."""
    prefixes = prefixes or {"DAV:": "D"}
    dav, tags = prefixes["DAV:"], _Tags(prefixes)
    declarations = " ".join(f'xmlns:{prefix}="{uri}"' for uri, prefix in prefixes.items())
    yield f'<?xml version="1.0" encoding="UTF-8"?>\n<{dav}:multistatus {declarations}>'.encode()
    batch = []
    for resource in resources:
        properties = resource.get_properties(mode, name_list=names) if mode == "named" else \
            resource.get_properties(mode)
        batch.append(_response(resource.get_href(), properties, tags))
        if len(batch) == BATCH:
            yield "".join(batch).encode()
            batch = []
    yield ("".join(batch) + f"</{dav}:multistatus>").encode()


def _response(href: str, properties, tags: "_Tags") -> str:
    """One <response>, a <propstat> per status (as WsgiDAV's add_property_response)."""
    by_status: dict[str, list[str]] = {"200 OK": []}
    for name, value in properties:
        if type(value) is str:  # most values: one test, then written
            tag, declaration = tags[name]
            by_status["200 OK"].append(f"<{tag}{declaration}>{escape(value)}</{tag}>")
        elif type(value) is Markup:
            tag, declaration = tags[name]
            by_status["200 OK"].append(f"<{tag}{declaration}>{value}</{tag}>" if value else f"<{tag}{declaration}/>")
        elif isinstance(value, DAVError):
            tag, declaration = tags[name]
            by_status.setdefault(get_http_status_string(value), []).append(f"<{tag}{declaration}/>")
        else:
            by_status["200 OK"].append(_property(name, value, tags))
    dav = tags.prefixes["DAV:"]
    propstats = "".join(f"<{dav}:propstat><{dav}:prop>{''.join(found)}</{dav}:prop>"
                        f"<{dav}:status>HTTP/1.1 {status}</{dav}:status></{dav}:propstat>"
                        for status, found in by_status.items() if found)
    return f"<{dav}:response><{dav}:href>{escape(href)}</{dav}:href>{propstats}</{dav}:response>"


def _property(name: str, value, tags: "_Tags") -> str:
    if util.is_etree_element(value):
        return _element(value, tags) or etree.tostring(value, encoding=str)
    tag, declaration = tags[name]
    if value is None:
        return f"<{tag}{declaration}/>"
    return f"<{tag}{declaration}>{escape(util.to_unicode_safe(value))}</{tag}>"


class _Tags(dict):
    """Clark names (`{uri}local`) as tags in an answer's prefixes, each worked out once:
    (tag, the declaration it needs when its namespace has no prefix here)."""

    def __init__(self, prefixes: dict[str, str]):
        super().__init__()
        self.prefixes = prefixes

    def __missing__(self, name: str) -> tuple[str, str]:
        uri, _, local = name[1:].partition("}") if name.startswith("{") else ("", "", name)
        prefix = self.prefixes.get(uri)
        self[name] = found = (f"{prefix}:{local}", "") if prefix else (local, f" xmlns={quoteattr(uri)}")
        return found


def _element(element, tags: _Tags) -> str | None:
    """A plain element (in the answer's namespaces, no attributes, elements and text
    only) as text; None for anything else."""
    if not isinstance(element.tag, str) or element.attrib:
        return None
    tag, declaration = tags[element.tag]
    if declaration:
        return None
    inner = [escape(element.text or "")]
    for child in element:
        written = _element(child, tags)
        if written is None:
            return None
        inner.append(written + escape(child.tail or ""))
    inner = "".join(inner)
    return f"<{tag}>{inner}</{tag}>" if inner else f"<{tag}/>"
