"""PROPFIND answered as a stream: the multistatus goes out a batch of entries at a
time, so a folder of 10,000 entries never sits in memory as one XML tree.

Depth infinity is refused (403 with `propfind-finite-depth`): a client walks the
tree with Depth 1, and folder etags tell it where nothing changed. The request is
read and every entry rendered with WsgiDAV's own functions, as its do_PROPFIND does.
"""

from wsgidav import util, xml_tools
from wsgidav.dav_error import (
    HTTP_BAD_REQUEST,
    HTTP_FORBIDDEN,
    HTTP_NOT_FOUND,
    PRECONDITION_CODE_PropfindFiniteDepth,
    DAVError,
)
from wsgidav.xml_tools import etree

BATCH = 200  # entries per piece of the answer


def propfind(server, environ, start_response, render=None):
    """`server` is WsgiDAV's RequestServer of this request (its If-header checks);
    `render(resources, mode, names)` writes the multistatus (a dialect's own)."""
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
    resources = res.get_descendants(depth=depth, add_self=True)
    start_response("207 Multi-Status", [("Content-Type", "application/xml; charset=utf-8"),
                                        ("Date", util.get_rfc1123_time())])
    return (render or _body)(resources, mode, names)


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


def _body(resources, mode: str, names):
    yield b'<?xml version="1.0" encoding="UTF-8"?>\n<D:multistatus xmlns:D="DAV:">'
    for start in range(0, len(resources), BATCH):
        batch = xml_tools.make_multistatus_el()
        for resource in resources[start:start + BATCH]:
            properties = resource.get_properties(mode, name_list=names) if mode == "named" else \
                resource.get_properties(mode)
            util.add_property_response(batch, resource.get_href(), properties)
        # The batch's own <D:multistatus> tags are dropped: its entries go into the one above.
        xml = etree.tostring(batch, encoding="UTF-8", xml_declaration=False)
        yield xml[xml.index(b">") + 1:xml.rindex(b"</")]
    yield b"</D:multistatus>"
