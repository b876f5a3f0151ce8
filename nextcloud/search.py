"""What the Nextcloud apps search with: DAV `SEARCH` (RFC 5323 basicsearch) on
`/remote.php/dav/` (the Android and iOS photo and media views, nc-py-api's `find`)
and `REPORT oc:filter-files` for favorites. A request becomes one bounded query over
the user's live files and folders (a name that contains a term is found by the search
of the other APIs); the answer is the files' multistatus, with their properties.

Supported: `d:select` (properties, or `d:allprop`), `d:from` one scope
`/files/{userid}/…` with depth 0, 1 or infinity, `d:where` with `d:and`, `d:or`,
`d:not`, `d:is-collection`, and `d:eq`, `d:like`, `d:gt`, `d:gte`, `d:lt`, `d:lte` on
`d:displayname`, `d:getcontenttype`, `d:getlastmodified`, `d:creationdate`,
`d:getcontentlength`, `oc:size`, `oc:fileid`, `oc:favorite` (and `oc:owner-id`, which is
always the caller); `d:orderby` on the same properties; `d:limit` (`d:nresults`,
`firstresult`). Anything else is refused with 422, a body that is not such a request
with 400."""

import re
import unicodedata
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from urllib.parse import unquote, urlparse

from django.db.models import Exists, OuterRef, Q
from django.http import HttpResponse

from dav import selectors as dav_selectors
from files.selectors import NameSearch
from folders.models import Node, NodeKind, Star

from . import selectors
from .webdav import DIRECTORY, FAVORITE, OC, Refused, answer, as_dav_errors, request_xml, resources_of

D = "{DAV:}"
MAX_RESULTS = 1000  # per answer; a client pages with `firstresult`

# A property a client may search or order by: the column it is.
_COLUMNS = {
    D + "displayname": "name", D + "getcontenttype": "mime_type", D + "getlastmodified": "modified",
    D + "creationdate": "created_at", D + "getcontentlength": "size", f"{{{OC}}}size": "size",
    f"{{{OC}}}fileid": "pk", FAVORITE: "is_favorite", f"{{{OC}}}owner-id": "owner",
}
_COMPARISONS = {"eq": "exact", "gt": "gt", "gte": "gte", "lt": "lt", "lte": "lte"}


def search(request, user) -> HttpResponse:
    """SEARCH on /remote.php/dav/."""
    try:
        with as_dav_errors():
            body = request_xml(request)
        basic = body.find(D + "basicsearch") if body is not None and body.tag == D + "searchrequest" else None
        if basic is None:
            raise Refused(400, "A SEARCH needs a DAV:searchrequest with a DAV:basicsearch.")
        mode, names = _select(basic.find(D + "select"))
        scope, depth = _scope(user, basic.find(D + "from"))
        where = basic.find(D + "where")
        match = _where(user, where[0]) if where is not None and len(where) else Q()
        if where is not None and len(where) > 1:
            raise Refused(422, "DAV:where holds one condition (join several with DAV:and).")
        order = _order(basic.find(D + "orderby"))
        first, count = _limit(basic.find(D + "limit"))
        return _answer(user, _found(user, scope, depth, match, order)[first:first + count], mode, names)
    except Refused as refused:
        return refused.response()


def filter_files(request, user, path: str) -> HttpResponse:
    """REPORT oc:filter-files on a folder of /remote.php/dav/files/{userid}/: the
    favorites below it."""
    try:
        with as_dav_errors():
            body = request_xml(request)
        if body is None or body.tag != f"{{{OC}}}filter-files":
            raise Refused(422, "Only the oc:filter-files report is served.")
        mode, names = _select(body)
        rules = body.find(f"{{{OC}}}filter-rules")
        match = Q()
        for rule in rules if rules is not None else ():
            if rule.tag != FAVORITE:
                raise Refused(422, "Only the oc:favorite filter rule is served (there are no tags).")
            match &= Q(is_favorite=_boolean(rule.text))
        if not len(match):
            raise Refused(400, "oc:filter-rules names no rule.")
        scope = dav_selectors.node_at(user=user, names=[name for name in path.split("/") if name])
        if scope is None or not scope.is_folder:
            raise Refused(404, "No such folder.")
        return _answer(user, _found(user, scope, "infinity", match, ["name"])[:MAX_RESULTS], mode, names)
    except Refused as refused:
        return refused.response()


def _answer(user, found, mode, names) -> HttpResponse:
    nodes = list(found)
    return answer(resources_of(user=user, nodes=nodes, paths=selectors.home_paths(nodes)), mode, names)


def _found(user, scope: Node, depth: str, match: Q, order: list[str]):
    nodes = Node.objects.for_owner(user).live().alias(
        is_favorite=Exists(Star.objects.filter(user=user, node=OuterRef("pk"))),
        modified=selectors.modified_seconds())
    if depth == "0":
        nodes = nodes.filter(pk=scope.pk)
    elif depth == "1":
        nodes = nodes.filter(parent=scope)
    else:
        nodes = nodes.filter(path__startswith=scope.path).exclude(pk=scope.pk)
    return nodes.filter(match).order_by(*order, "pk")


# --- reading the request ------------------------------------------------------------------------

def _select(select) -> tuple[str, list | None]:
    prop = select.find(D + "prop") if select is not None else None
    if prop is not None:
        return "named", [child.tag for child in prop]
    return "allprop", None


def _scope(user, source) -> tuple[Node, str]:
    scopes = source.findall(D + "scope") if source is not None else []
    if len(scopes) != 1:
        raise Refused(422, "DAV:from names exactly one DAV:scope.")
    href = unquote(urlparse(scopes[0].findtext(D + "href") or "").path)
    href = href[len("/remote.php/dav"):] if href.startswith("/remote.php/dav/") else href
    parts = [part for part in href.split("/") if part]
    if parts[:1] != ["files"] or len(parts) < 2:
        raise Refused(422, "The scope is a folder of /files/{userid}/.")
    if parts[1] != user.username:
        raise Refused(403, "These are not your files.")
    folder = dav_selectors.node_at(user=user, names=parts[2:])
    if folder is None or not folder.is_folder:
        raise Refused(404, "The scope is not one of your folders.")
    depth = (scopes[0].findtext(D + "depth") or "infinity").strip().lower()
    if depth not in ("0", "1", "infinity"):
        raise Refused(400, "DAV:depth is 0, 1 or infinity.")
    return folder, depth


def _where(user, condition) -> Q:
    operator = condition.tag.removeprefix(D)
    if operator in ("and", "or"):
        joined = Q()
        for part in condition:
            joined = (joined & _where(user, part)) if operator == "and" else (joined | _where(user, part))
        if not len(condition):
            raise Refused(400, f"DAV:{operator} needs conditions.")
        return joined
    if operator == "not":
        if len(condition) != 1:
            raise Refused(400, "DAV:not holds one condition.")
        return ~_where(user, condition[0])
    if operator == "is-collection":
        return Q(kind=NodeKind.FOLDER)
    if operator not in _COMPARISONS and operator != "like":
        raise Refused(422, f"The operator {condition.tag} is not supported.")
    prop = condition.find(D + "prop")
    if prop is None or len(prop) != 1 or condition.find(D + "literal") is None:
        raise Refused(400, f"DAV:{operator} holds one DAV:prop and one DAV:literal.")
    name, literal = prop[0].tag, condition.findtext(D + "literal") or ""
    column = _COLUMNS.get(name)
    if column is None:
        raise Refused(422, f"Searching by {name} is not supported.")
    if operator == "like":
        return _like(user, column, literal)
    lookup = _COMPARISONS[operator]
    if column == "owner":  # older apps' photo views ask for their own files so
        if lookup != "exact":
            raise Refused(422, "oc:owner-id is compared with DAV:eq only.")
        return Q() if literal.strip() == user.username else Q(pk__in=[])
    if column == "mime_type":
        return _mime(literal, lookup)
    value = _literal(column, literal)
    if column == "is_favorite" and lookup != "exact":
        raise Refused(422, "oc:favorite is compared with DAV:eq only.")
    return Q(**{f"{column}__{lookup}": value})


def _like(user, column: str, pattern: str) -> Q:
    if column not in ("name", "mime_type"):
        raise Refused(422, "DAV:like compares names and content types only.")
    pattern = unicodedata.normalize("NFC", pattern)
    inner = pattern[1:-1]
    if column == "name" and len(pattern) > 2 and pattern[0] == pattern[-1] == "%" and not set("%_") & set(inner):
        # 'a name that contains': the search of the other APIs (indexed)
        return Q(pk__in=NameSearch(user=user, query=inner).rows.values("pk"))
    regex = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern)
    match = Q(**{f"{column}__iregex": f"^{regex}$"})
    if column == "mime_type":
        folders = Q(kind=NodeKind.FOLDER) if re.fullmatch(regex, DIRECTORY, re.IGNORECASE) else Q(pk__in=[])
        return (match & Q(kind=NodeKind.FILE)) | folders
    return match


def _mime(literal: str, lookup: str) -> Q:
    if lookup != "exact":
        raise Refused(422, "DAV:getcontenttype is compared with DAV:eq or DAV:like only.")
    if literal.strip().lower() == DIRECTORY:
        return Q(kind=NodeKind.FOLDER)
    return Q(kind=NodeKind.FILE, mime_type__iexact=literal.strip())


def _literal(column: str, text: str):
    text = text.strip()
    if column == "modified":
        return _time(text).timestamp()
    if column == "created_at":
        return _time(text)
    if column == "is_favorite":
        return _boolean(text)
    if column == "name":
        return unicodedata.normalize("NFC", text)
    if not re.fullmatch(r"\d{1,18}", text):
        raise Refused(400, f"{text!r} is not a whole number.")
    return int(text)


def _time(text: str) -> datetime:
    """A literal time: seconds since 1970, ISO 8601 or an HTTP date, as clients send them."""
    try:
        if re.fullmatch(r"\d{1,12}", text):
            return datetime.fromtimestamp(int(text), tz=timezone.utc)
        if text[:4].isdigit():
            when = datetime.fromisoformat(text.replace("Z", "+00:00"))
        else:
            when = parsedate_to_datetime(text)
    except (TypeError, ValueError, OverflowError):
        raise Refused(400, f"{text!r} is not a time.") from None
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


def _boolean(text) -> bool:
    value = (text or "").strip().lower()
    if value not in ("1", "0", "true", "false", "yes", "no"):  # the Android app sends "yes"
        raise Refused(400, "oc:favorite is 1 or 0.")
    return value in ("1", "true", "yes")


def _order(orderby) -> list[str]:
    order = []
    for item in orderby if orderby is not None else ():
        prop = item.find(D + "prop")
        column = _COLUMNS.get(prop[0].tag) if prop is not None and len(prop) else None
        if column is None:
            raise Refused(422, "DAV:orderby names a property that cannot be ordered by.")
        order.append(("-" if item.find(D + "descending") is not None else "") + column)
    return order or ["name"]


def _limit(limit) -> tuple[int, int]:
    if limit is None:
        return 0, MAX_RESULTS
    first, count = 0, MAX_RESULTS
    for element in limit:
        text = (element.text or "").strip()
        if not re.fullmatch(r"\d{1,9}", text):
            raise Refused(400, "DAV:limit holds whole numbers.")
        if element.tag == D + "nresults":
            count = min(int(text), MAX_RESULTS)
        elif element.tag.endswith("}firstresult"):
            first = int(text)
    return first, count
