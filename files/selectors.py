"""Reads that several views and dialects share."""

import json
import re
import unicodedata
from functools import cached_property

from django.db import connection
from django.db.models import CharField, Count, F, Func, Q, Sum, Value
from django.db.models.functions import StrIndex, Upper

from folders.models import Node, NodeKind
from folders.selectors import live_nodes_for, nodes_for, nodes_shown, trash_for  # noqa: F401  (shared with folders)
from storage_site.core.pagination import KeyedList

from .models import FileVersion


def files_for(user):
    return nodes_for(user).filter(kind=NodeKind.FILE)


# --- search by name ------------------------------------------------------------------

# ASCII spaces and punctuation become one letter in the trigram-indexed form of a name
# (folders migration 0006 builds the index on exactly this expression).
NAME_KEY_SEPARATORS = " !\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"
NAME_KEY_PLACEHOLDER = "Q"
_AS_PLACEHOLDER = str.maketrans(NAME_KEY_SEPARATORS, NAME_KEY_PLACEHOLDER * len(NAME_KEY_SEPARATORS))
_TRIGRAM_RUN = re.compile(r"[A-Za-z0-9]{3}")  # three of these in a row give pg_trgm at least one trigram


class NameKey(Func):
    """UPPER(expression) with ASCII separators as one letter, so that pg_trgm sees a name as
    one word and keeps the trigrams across `_`, `-`, `.`, spaces. Only PostgreSQL has the
    index; elsewhere it is plain UPPER."""

    function = "UPPER"
    output_field = CharField()

    def as_postgresql(self, compiler, connection, **extra):
        sql, params = super().as_sql(compiler, connection, **extra)
        return (f"TRANSLATE({sql}, %s, %s)",
                (*params, NAME_KEY_SEPARATORS, NAME_KEY_PLACEHOLDER * len(NAME_KEY_SEPARATORS)))


class NameSearch(KeyedList):
    """The user's live files and folders whose name contains `query` (any case), in name
    order, paged in two steps (KeyedList). `count()` stops at CAP; `capped` says there are more.

    How a page's keys are found, so that no term pays for all of its matches when it has
    many, nor walks far for a few:
    - PostgreSQL expects at most SORT_FIRST matches (its estimate from the trigram index's
      statistics): one query sorts and counts them all (cheaper than counting them first,
      then a walk that may find none);
    - up to CAP matches: the trigram index finds them all and they are sorted;
    - more: walk the names in order and keep the matches, over the first WINDOW names
      (index-only, stopping at the page's last match), where a common term has its page;
    - not there (the matches sit later in name order): sort them if there are at most
      SORT_MAX, else walk on (so many matches are met soon, unless all sit at the end);
    - a term without three letters or digits in a row gives pg_trgm nothing to look up (it
      would read the whole index): it is only ever walked.
    The slowest cases left: more than SORT_MAX matches all late in name order (a long walk),
    and a short term that matches nothing (a walk over every name).
    """

    CAP = 1000
    SORT_FIRST = 4_000  # ~45 ms of sorting on a 2-core machine; a fruitless walk costs 50
    WINDOW = 50_000
    SORT_MAX = 10_000
    ORDER = ("name", "pk")

    def __init__(self, *, user, query: str, kind: str | None = None, decorate=None):
        query = unicodedata.normalize("NFC", query)  # as names are stored: 'é' typed as e + ◌́ finds 'é'
        nodes = live_nodes_for(user)
        if kind:
            nodes = nodes.filter(Q(category=kind) | Q(kind=kind))
        self.nodes = nodes
        # What matches, exactly: the name contains the term in any case. As STRPOS rather than
        # LIKE: the planner then guesses a third of the rows match and leaves the row estimate
        # to the trigram test below, which has statistics (its index's).
        self.contains = Q(position__gt=0)  # with `position` aliased as below
        self.position = StrIndex(Upper("name"), Upper(Value(query)))
        self.walk = nodes.alias(position=self.position).filter(self.contains).order_by(*self.ORDER)
        self.indexed = bool(_TRIGRAM_RUN.search(query.translate(_AS_PLACEHOLDER)))
        matches = self.walk
        if self.indexed:  # the same test, plus one the trigram index can answer
            matches = matches.alias(name_key=NameKey("name")).filter(name_key__contains=NameKey(Value(query)))
        super().__init__(matches, decorate=decorate)

    @cached_property
    def _all_sorted(self) -> list | None:
        """Every match's key in order, in one query that also counts them, when PostgreSQL
        expects at most SORT_FIRST; None otherwise, or when there prove to be more than SORT_MAX."""
        if not (self.indexed and self._few_expected()):
            return None
        keys = self._sorted_keys(self.SORT_MAX + 1)
        return keys if len(keys) <= self.SORT_MAX else None

    @cached_property
    def _found(self) -> int:
        if self._all_sorted is not None:
            return len(self._all_sorted)
        return self._found_up_to(self.CAP)

    @property
    def capped(self) -> bool:
        return self._found > self.CAP

    def count(self) -> int:
        return min(self._found, self.CAP)

    def page_keys(self, bottom: int, top: int):
        if self._all_sorted is not None:
            return self._all_sorted[bottom:top]
        if not self.indexed:
            return self.walk.values("pk")[bottom:top]
        if not self.capped:
            return self._sorted(self.CAP, bottom, top)[0]
        keys = self._in_window(bottom, top)
        if len(keys) == top - bottom:
            return keys
        keys, found = self._sorted(self.SORT_MAX + 1, bottom, top)
        if found <= self.SORT_MAX:
            return keys
        return self.walk.values("pk")[bottom:top]

    def _few_expected(self) -> bool:
        """PostgreSQL expects at most SORT_FIRST matches: its row estimate for the trigram
        lookup (EXPLAIN, no execution), which the index's statistics make close."""
        if self.SORT_FIRST <= 0 or connection.vendor != "postgresql":
            return False
        sql, params = self.rows.order_by().values("id").query.sql_with_params()
        with connection.cursor() as cursor:
            cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
            plan = cursor.fetchone()[0]
        if isinstance(plan, str):
            plan = json.loads(plan)
        return plan[0]["Plan"]["Plan Rows"] <= self.SORT_FIRST

    def _found_up_to(self, limit: int) -> int:
        """The number of matches, counting no further than limit + 1. Found by the trigram
        index or, for a term it cannot look up, by walking the names index-only (in order,
        which keeps the planner off the table itself)."""
        rows = self.rows.order_by() if self.indexed else self.walk
        return rows[: limit + 1].count()

    # The two queries below select from a subquery, which Django cannot express: raw SQL
    # around the ORM's own, the subquery named like the table so compiled tests apply to it.

    def _in_window(self, bottom: int, top: int) -> list:
        """Keys [bottom, top) of the matches among the first WINDOW names: one index-only walk
        in name order that stops at the page's last match, or after WINDOW names."""
        window, params = self.nodes.order_by(*self.ORDER).values("id", "name")[: self.WINDOW].query.sql_with_params()
        test = Node.objects.alias(position=self.position).filter(self.contains).query
        test_sql, test_params = test.get_compiler(connection=connection).compile(test.where)
        table = connection.ops.quote_name(Node._meta.db_table)
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT id FROM ({window}) AS {table} WHERE {test_sql} ORDER BY name, id "
                           f"LIMIT %s OFFSET %s", (*params, *test_params, top - bottom, bottom))
            return [pk for (pk,) in cursor.fetchall()]

    def _sorted_keys(self, limit: int) -> list:
        """The keys of the first `limit` matches the database comes upon, in order (sorted
        outside the query that finds them, as in `_sorted`)."""
        found, params = self.rows.order_by().values("id", "name")[:limit].query.sql_with_params()
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT id FROM ({found}) AS matches ORDER BY name, id", params)
            return [pk for (pk,) in cursor.fetchall()]

    def _sorted(self, limit: int, bottom: int, top: int) -> tuple[list, int]:
        """Sort the first `limit` matches the database comes upon (all of them, when there are
        no more) and count them: the keys at [bottom, top) and that count, in one query.
        Sorted outside the query that finds them, so the planner cannot choose to walk the
        names in order and test each one instead (what it would do if it guessed many matches)."""
        found, params = self.rows.order_by().values("id", "name")[:limit].query.sql_with_params()
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT id, COUNT(*) OVER () FROM ({found}) AS matches ORDER BY name, id "
                           f"LIMIT %s OFFSET %s", (*params, top - bottom, bottom))
            rows = cursor.fetchall()
        return [pk for pk, _ in rows], (rows[0][1] if rows else 0)


def usage(user) -> dict:
    """How the user's stored bytes split: live files, older versions, trash."""
    # One pass over the user's versions (every page of the web drive shows this split).
    live, current = Q(node__trashed_at__isnull=True), Q(number=F("node__version"))
    totals = FileVersion.objects.filter(node__owner=user).aggregate(
        live=Sum("size", filter=live & current), versions=Sum("size", filter=live & ~current),
        trash=Sum("size", filter=~live), files=Count("pk", filter=live & current))
    fresh = type(user).objects.values("storage_quota", "storage_used", "storage_reserved").get(pk=user.pk)
    return {
        "quota": fresh["storage_quota"],
        "used": fresh["storage_used"],
        "reserved": fresh["storage_reserved"],
        "available": max(0, fresh["storage_quota"] - fresh["storage_used"] - fresh["storage_reserved"]),
        **{key: totals[key] or 0 for key in ("live", "versions", "trash")},
        "fileCount": totals["files"],
    }
