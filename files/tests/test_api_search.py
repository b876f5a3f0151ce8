"""GET /api/search through HTTP. A page of matches is found in one of several ways (files.
selectors.NameSearch: sort the few matches, walk the names in order, sort the matches when
the walk's window holds too few, walk on when they are too many; short terms are only
walked); each must give the same answer:
the caller's live names containing the term in any case, in name order, paged without
repeats or gaps, and nothing of another user's."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from files.selectors import NameSearch

from .helpers import mkdir, upload

pytestmark = pytest.mark.django_db

# First letters set the order under any collation; the separators are what the trigram
# index sees as one letter (`Q`), so `kyotoqpar` looks to it like `kyoto_par`.
MATCHING = ["a_tokyo", "b tokyo 2", "c-TOKYO", "d.Tokyo.x", "e_tokyo_par", "f(tokyo)", "g_tokyo"]
OTHERS = ["h_kyoto", "i_kyotoqpar", "j_tok_yo", "k"]


@pytest.fixture
def names(auth_client, other_client):
    for name in sorted(MATCHING + OTHERS, key=lambda n: n[::-1]):  # created out of name order
        mkdir(auth_client, name)
    for name in ("a_tokyo_of_another", "z_tokyo_of_another"):
        mkdir(other_client, name)
    return auth_client


def search(client, q, **params):
    resp = client.get("/api/search", {"q": q, **params})
    assert resp.status_code == 200, resp.content
    return resp.json()["data"]


def visible(names):
    """What the pages show of these matches: the first CAP of them."""
    return names[:NameSearch.CAP]


def every_page(client, q, size=2, **params):
    """The names on every page, and the first page's pagination."""
    first = search(client, q, pageSize=size, **params)
    found, page, data = [], 1, first
    while True:
        found += [item["name"] for item in data["items"]]
        if not data["pagination"]["hasNext"]:
            return found, first["pagination"]
        page += 1
        data = search(client, q, pageSize=size, page=page, **params)


@pytest.fixture(params=["sorted", "estimated", "window", "fallback", "walk"])
def path(request, monkeypatch):
    """Steer NameSearch down one of its paths for a term with 7 matches among 11 names:
    sort them all; sort them at once past the cap, since PostgreSQL expects few (elsewhere:
    as "fallback"); find the page in the walk's window; sort them since the window (one name)
    holds too few; walk on since they are too many to sort (more than 3)."""
    cap, sort_first, window, sort_max = {
        "sorted": (100, 0, 20_000, 10_000), "estimated": (3, 10_000, 1, 10_000),
        "window": (3, 0, 100, 10_000), "fallback": (3, 0, 1, 10_000), "walk": (3, 0, 1, 3)}[request.param]
    monkeypatch.setattr(NameSearch, "CAP", cap)
    monkeypatch.setattr(NameSearch, "SORT_FIRST", sort_first)
    monkeypatch.setattr(NameSearch, "WINDOW", window)
    monkeypatch.setattr(NameSearch, "SORT_MAX", sort_max)
    return request.param


def test_every_path_gives_the_matches_in_name_order(names, path):
    found, pagination = every_page(names, "TOKYO")
    assert found == visible(MATCHING)
    capped = path != "sorted"
    assert pagination["totalCapped"] is capped
    assert pagination["total"] == (3 if capped else 7)
    assert pagination["totalPages"] == (2 if capped else 4)


def test_separators_and_wildcards_match_only_themselves(names, path):
    assert every_page(names, "o_p")[0] == ["e_tokyo_par"]  # not i_kyotoqpar, not j_tok_yo
    assert every_page(names, "tokyo 2")[0] == ["b tokyo 2"]
    assert every_page(names, "(TOKYO)")[0] == ["f(tokyo)"]
    assert every_page(names, "%")[0] == []
    assert every_page(names, "tok_")[0] == ["j_tok_yo"]


def test_short_terms_are_walked(names, path):
    # Fewer than three letters or digits in a row: no trigram to look up.
    assert every_page(names, "yo")[0] == visible(MATCHING + ["h_kyoto", "i_kyotoqpar", "j_tok_yo"])
    assert every_page(names, "K")[0] == visible(MATCHING + OTHERS)
    assert every_page(names, "_t")[0] == visible(["a_tokyo", "e_tokyo_par", "g_tokyo", "j_tok_yo"])


def test_type_filter_and_trash(names, path):
    upload(names, "m_tokyo.jpg", b"x", content_type="image/jpeg")
    gone = upload(names, "n_tokyo.jpg", b"y", content_type="image/jpeg")
    names.delete(f"/api/files/{gone['id']}/delete")
    assert every_page(names, "tokyo", type="image")[0] == ["m_tokyo.jpg"]
    assert every_page(names, "tokyo", type="folder")[0] == visible(MATCHING)
    assert every_page(names, "tokyo", size=100)[0] == visible(MATCHING + ["m_tokyo.jpg"])


def test_another_users_names_never_appear(names, other_client, path):
    found, pagination = every_page(other_client, "tokyo")
    assert found == ["a_tokyo_of_another", "z_tokyo_of_another"]
    assert pagination["total"] == 2 and pagination["totalCapped"] is False


def test_pages_past_the_cap_are_not_served(names, monkeypatch):
    monkeypatch.setattr(NameSearch, "CAP", 3)
    assert names.get("/api/search", {"q": "tokyo", "pageSize": 2, "page": 3}).status_code == 404


def test_queries_do_not_grow_with_the_page_size(names, path):
    counts = {}
    for q in ("tokyo", "yo"):
        for size in (2, 5):
            with CaptureQueriesContext(connection) as queries:
                search(names, q, pageSize=size)
            counts[q, size] = len(queries)
    assert counts["tokyo", 2] == counts["tokyo", 5]
    assert counts["yo", 2] == counts["yo", 5]
    # Session, count, the page's keys, its rows; when the walk's window comes up short, the
    # matches are sorted in a query of their own. When PostgreSQL expects few, its estimate
    # (EXPLAIN) and one query that sorts and counts them all take the count's and the keys'
    # place (elsewhere "estimated" goes as "fallback").
    estimated = 4 if connection.vendor == "postgresql" else 5
    assert counts["tokyo", 2] == {"sorted": 4, "estimated": estimated, "window": 4, "fallback": 5,
                                  "walk": 5}[path]
    assert counts["yo", 2] == 3  # walked: the keys are a subquery of the rows' query
