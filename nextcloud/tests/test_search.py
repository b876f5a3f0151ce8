"""DAV SEARCH on /remote.php/dav/ and REPORT oc:filter-files: the queries Nextcloud's
apps send, answered with the files' properties, bounded, refusing what is not served
with a 4xx, and never reaching another user's files."""

from urllib.parse import unquote
from xml.etree import ElementTree

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from nextcloud.tests.test_webdav import D

pytestmark = pytest.mark.django_db

NS = 'xmlns:d="DAV:" xmlns:oc="http://owncloud.org/ns" xmlns:nc="http://nextcloud.org/ns"'


def search_body(where: str, *, scope: str, depth="infinity", orderby="", limit="",
                select="<d:getcontenttype/><oc:fileid/><oc:favorite/><d:getlastmodified/>") -> bytes:
    return (f'<?xml version="1.0"?><d:searchrequest {NS}><d:basicsearch><d:select><d:prop>{select}</d:prop>'
            f"</d:select><d:from><d:scope><d:href>{scope}</d:href><d:depth>{depth}</d:depth></d:scope></d:from>"
            f"<d:where>{where}</d:where>{orderby}{limit}</d:basicsearch></d:searchrequest>").encode()


def cmp(op: str, prop: str, literal) -> str:
    return f"<d:{op}><d:prop><{prop}/></d:prop><d:literal>{literal}</d:literal></d:{op}>"


def found(answer) -> list[str]:
    assert answer.status == 207, answer
    return [unquote(r.findtext(D + "href")) for r in ElementTree.fromstring(answer.body).iter(D + "response")]


@pytest.fixture
def tree(nc_dav, base):
    nc_dav.mkcol(base + "/Photos")
    nc_dav.mkcol(base + "/Photos/2026")
    nc_dav.put(base + "/Photos/2026/beach.jpg", b"\xff\xd8" + b"j" * 500, content_type="image/jpeg")
    nc_dav.put(base + "/Photos/cat.png", b"p" * 50, content_type="image/png")
    nc_dav.put(base + "/notes beach.txt", b"t" * 5, content_type="text/plain")
    return base


def test_photos_by_mime_type_newest_first_with_a_limit(nc_dav, tree, user):
    scope = f"/files/{user.username}"
    orderby = ("<d:orderby><d:order><d:prop><d:getlastmodified/></d:prop><d:descending/></d:order>"
               "</d:orderby>")
    body = search_body(cmp("like", "d:getcontenttype", "image/%"), scope=scope, orderby=orderby)
    hrefs = found(nc_dav.request("SEARCH", "/remote.php/dav/", body, content_type="text/xml"))
    assert hrefs == [f"{tree}/Photos/cat.png", f"{tree}/Photos/2026/beach.jpg"]
    limited = search_body(cmp("like", "d:getcontenttype", "image/%"), scope=scope, orderby=orderby,
                          limit="<d:limit><d:nresults>1</d:nresults></d:limit>")
    assert found(nc_dav.request("SEARCH", "/remote.php/dav", limited)) == [f"{tree}/Photos/cat.png"]
    answer = nc_dav.request("SEARCH", "/remote.php/dav/", body)
    assert b"<d:getcontenttype>image/png</d:getcontenttype>" in answer.body and b"<oc:fileid>" in answer.body


def test_name_size_and_scope(nc_dav, tree, user):
    scope = f"/files/{user.username}"
    like = cmp("like", "d:displayname", "%BEACH%")
    assert sorted(found(nc_dav.request("SEARCH", "/remote.php/dav/", search_body(like, scope=scope)))) == \
        [f"{tree}/Photos/2026/beach.jpg", f"{tree}/notes beach.txt"]
    photos = search_body(like, scope=scope + "/Photos")
    assert found(nc_dav.request("SEARCH", "/remote.php/dav/", photos)) == [f"{tree}/Photos/2026/beach.jpg"]
    shallow = search_body(like, scope=scope + "/Photos", depth="1")
    assert found(nc_dav.request("SEARCH", "/remote.php/dav/", shallow)) == []
    both = f"<d:and>{like}{cmp('gt', 'oc:size', 100)}</d:and>"
    assert found(nc_dav.request("SEARCH", "/remote.php/dav/", search_body(both, scope=scope))) == \
        [f"{tree}/Photos/2026/beach.jpg"]
    either = f"<d:or>{cmp('eq', 'd:displayname', 'cat.png')}<d:not>{cmp('like', 'd:displayname', '%a%')}</d:not></d:or>"
    assert sorted(found(nc_dav.request("SEARCH", "/remote.php/dav/", search_body(either, scope=scope)))) == \
        [f"{tree}/Photos/", f"{tree}/Photos/2026/", f"{tree}/Photos/cat.png"]  # folders named without an a
    folders = search_body("<d:is-collection/>", scope=scope)
    assert sorted(found(nc_dav.request("SEARCH", "/remote.php/dav/", folders))) == \
        [f"{tree}/Photos/", f"{tree}/Photos/2026/"]
    recent = search_body(cmp("gt", "d:getlastmodified", "2020-01-01T00:00:00Z"), scope=scope + "/Photos/2026")
    assert found(nc_dav.request("SEARCH", "/remote.php/dav/", recent)) == [f"{tree}/Photos/2026/beach.jpg"]
    old = search_body(cmp("lt", "d:getlastmodified", 1500000000), scope=scope)
    assert found(nc_dav.request("SEARCH", "/remote.php/dav/", old)) == []


def test_favorites_by_search_and_by_report(nc_dav, tree, user):
    star = ('<?xml version="1.0"?><d:propertyupdate xmlns:d="DAV:" xmlns:oc="http://owncloud.org/ns"><d:set>'
            "<d:prop><oc:favorite>1</oc:favorite></d:prop></d:set></d:propertyupdate>").encode()
    assert nc_dav.request("PROPPATCH", tree + "/Photos/cat.png", star).status == 207
    body = search_body(cmp("eq", "oc:favorite", 1), scope=f"/files/{user.username}")
    assert found(nc_dav.request("SEARCH", "/remote.php/dav/", body)) == [f"{tree}/Photos/cat.png"]
    report = (f'<?xml version="1.0"?><oc:filter-files {NS}><d:prop><oc:fileid/><oc:favorite/></d:prop>'
              "<oc:filter-rules><oc:favorite>1</oc:favorite></oc:filter-rules></oc:filter-files>").encode()
    answer = nc_dav.request("REPORT", tree + "/", report)
    assert found(answer) == [f"{tree}/Photos/cat.png"] and b"<oc:favorite>1</oc:favorite>" in answer.body
    assert found(nc_dav.request("REPORT", tree + "/Photos/2026/", report)) == []


@pytest.mark.parametrize("body, status", [
    (b"<not xml", 400),
    (b"<x>" + b" " * (3 << 20) + b"</x>", 413),  # past the limit on a body read into memory
    (b'<?xml version="1.0"?><d:propfind xmlns:d="DAV:"/>', 400),
    (search_body(cmp("like", "oc:permissions", "%x%"), scope="/files/{user}"), 422),
    (search_body(cmp("contains", "d:displayname", "x"), scope="/files/{user}"), 422),
    (search_body(cmp("gt", "oc:size", "big"), scope="/files/{user}"), 400),
    (search_body(cmp("gt", "d:getlastmodified", "yesterday"), scope="/files/{user}"), 400),
    (search_body(cmp("like", "oc:size", "1%"), scope="/files/{user}"), 422),
    (search_body(cmp("eq", "d:displayname", "a"), scope="/files/{user}/nowhere"), 404),
    (search_body(cmp("eq", "d:displayname", "a"), scope="/calendars/{user}"), 422),
    (search_body(cmp("eq", "d:displayname", "a"), scope="/files/{user}", depth="2"), 400),
    (search_body("<d:not/>", scope="/files/{user}"), 400),
    (search_body(cmp("eq", "d:displayname", "a"), scope="/files/{user}",
                 limit="<d:limit><d:nresults>-1</d:nresults></d:limit>"), 400),
    (search_body(cmp("eq", "d:displayname", "a"), scope="/files/{user}",
                 orderby="<d:orderby><d:order><d:prop><oc:permissions/></d:prop></d:order></d:orderby>"), 422),
])
def test_what_is_not_served_is_a_clear_4xx(nc_dav, tree, user, body, status):
    answer = nc_dav.request("SEARCH", "/remote.php/dav/", body.replace(b"{user}", user.username.encode()))
    assert answer.status == status, answer
    assert b"<s:message>" in answer.body


def test_another_users_files_are_never_searched(nc_dav, other_dav, tree, user, other_user):
    everything = cmp("like", "d:displayname", "%")
    body = search_body(everything, scope=f"/files/{user.username}")
    assert other_dav.request("SEARCH", "/remote.php/dav/", body).status == 403
    body = search_body(everything, scope=f"/remote.php/dav/files/{user.username}/Photos")
    assert other_dav.request("SEARCH", "/remote.php/dav/", body).status == 403
    own = search_body(everything, scope=f"/files/{other_user.username}")
    assert found(other_dav.request("SEARCH", "/remote.php/dav/", own)) == []
    report = (f'<?xml version="1.0"?><oc:filter-files {NS}><d:prop><oc:fileid/></d:prop>'
              "<oc:filter-rules><oc:favorite>1</oc:favorite></oc:filter-rules></oc:filter-files>").encode()
    assert other_dav.request("REPORT", tree + "/", report).status == 403
    assert nc_dav.request("PROPFIND", "/remote.php/dav/").status == 405


def test_a_search_costs_the_same_queries_for_few_or_many_results(nc_dav, base, user):
    body = search_body(cmp("like", "d:displayname", "%.txt"), scope=f"/files/{user.username}",
                       select="<oc:fileid/><oc:favorite/><oc:size/><nc:has-preview/><oc:share-types/>"
                              "<d:getlastmodified/>")
    counts = []
    for n in (2, 12):
        while len(found(nc_dav.request("SEARCH", "/remote.php/dav/", body))) < n:
            nc_dav.put(f"{base}/f{len(counts)}-{n}-{user.nodes.count()}.txt", b"x")
        with CaptureQueriesContext(connection) as queries:
            assert len(found(nc_dav.request("SEARCH", "/remote.php/dav/", body))) == n
        counts.append(len(queries))
    assert counts[0] == counts[1]


def test_the_photo_views_query_pages_by_the_time_the_client_gave(nc_dav, base, user):
    """As the Android app asks: images and videos, newest first, in pages below the last
    time shown; the times are those `getlastmodified` shows (X-OC-Mtime when given)."""
    for name, taken in (("2019.jpg", 1546300800), ("2021.jpg", 1609459200), ("2020.mp4", 1577836800)):
        assert nc_dav.put(f"{base}/{name}", b"media", HTTP_X_OC_MTIME=str(taken)).status == 201
    nc_dav.put(f"{base}/now.jpg", b"media")  # no client time: its own (today)
    media = (f"<d:or>{cmp('like', 'd:getcontenttype', 'image/%')}{cmp('like', 'd:getcontenttype', 'video/%')}"
             "</d:or>")
    newest_first = ("<d:orderby><d:order><d:prop><d:getlastmodified/></d:prop><d:descending/></d:order>"
                    "</d:orderby>")
    page = "<d:limit><d:nresults>2</d:nresults></d:limit>"
    first = found(nc_dav.request("SEARCH", "/remote.php/dav/", search_body(
        media, scope=f"/files/{user.username}", orderby=newest_first, limit=page)))
    assert first == [f"{base}/now.jpg", f"{base}/2021.jpg"]
    below = f"<d:and>{cmp('lt', 'd:getlastmodified', 1609459200)}{media}</d:and>"
    second = nc_dav.request("SEARCH", "/remote.php/dav/", search_body(
        below, scope=f"/files/{user.username}", orderby=newest_first, limit=page))
    assert found(second) == [f"{base}/2020.mp4", f"{base}/2019.jpg"]
    assert b"Wed, 01 Jan 2020 00:00:00 GMT" in second.body
    favorites = search_body(cmp("eq", "oc:favorite", "yes"), scope=f"/files/{user.username}")
    assert found(nc_dav.request("SEARCH", "/remote.php/dav/", favorites)) == []
    own = search_body(f"<d:and>{cmp('eq', 'oc:owner-id', user.username)}{media}</d:and>",
                      scope=f"/files/{user.username}")
    assert len(found(nc_dav.request("SEARCH", "/remote.php/dav/", own))) == 4
    other = search_body(f"<d:and>{cmp('eq', 'oc:owner-id', 'someone-else')}{media}</d:and>",
                        scope=f"/files/{user.username}")
    assert found(nc_dav.request("SEARCH", "/remote.php/dav/", other)) == []
