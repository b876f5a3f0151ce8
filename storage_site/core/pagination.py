from django.db import connections
from django.db.models import QuerySet
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response


class PrimaryPagination(PageNumberPagination):
    """`{"success": true, "data": {"items": [...], "pagination": {...}}}`; one COUNT and one page query."""

    page_size = 50
    page_size_query_param = "pageSize"
    max_page_size = 1000

    def get_paginated_response(self, data):
        return Response({"success": True, "data": {"items": data, "pagination": self._meta()}})

    def _meta(self):
        return {
            "page": self.page.number,
            "pageSize": self.page.paginator.per_page,
            "total": self.page.paginator.count,
            "totalPages": self.page.paginator.num_pages,
            "hasNext": self.page.has_next(),
        }

    def get_schema_operation_parameters(self, view):
        # Documented with their bounds (a page past the last is a 404, a size past the
        # maximum is the maximum), so clients and the fuzzer see what is accepted.
        bounds = {self.page_query_param: (1, 2**31 - 1), self.page_size_query_param: (1, self.max_page_size)}
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] in bounds:
                low, high = bounds[parameter["name"]]
                parameter["schema"].update(minimum=low, maximum=high)
        return parameters

    def get_paginated_response_schema(self, schema):
        return {
            "type": "object",
            "properties": {
                "success": {"type": "boolean"},
                "data": {
                    "type": "object",
                    "properties": {
                        "items": schema,
                        "pagination": {"type": "object", "properties": {
                            "page": {"type": "integer"}, "pageSize": {"type": "integer"},
                            "total": {"type": "integer"}, "totalPages": {"type": "integer"},
                            "hasNext": {"type": "boolean"}}},
                    },
                },
            },
        }


class KeyedList:
    """A list paged in two steps, for long lists. First the page's keys, from the bare list
    (its filters and order, nothing else): an index can hand them over in order without
    visiting a single row, not even the thousands an OFFSET skips. Then only those rows,
    with what `decorate` adds for display (annotations, related values), in the same order.

    Django's Paginator takes it as its object_list: it asks `count()` and slices it."""

    ordered = True  # for Paginator: the order is the bare list's, never undefined
    # Orders an index holds for every list (folders' indexes keep names in order).
    INDEXED_ORDERS = {("name", "pk")}

    def __init__(self, rows: QuerySet, *, decorate=None):
        self.rows = rows
        self.decorate = decorate or (lambda queryset: queryset)

    def count(self) -> int:
        """Counted in the list's order when an index holds it: the index alone then answers
        (PostgreSQL reads the whole table instead when the list is most of it, 2.5x slower
        for 10,000 rows). Any other order is not asked for: it would be a sort."""
        if tuple(self.rows.query.order_by) not in self.INDEXED_ORDERS:
            return self.rows.count()
        sql, params = self.rows.values("pk").query.sql_with_params()
        with connections[self.rows.db].cursor() as cursor:
            cursor.execute(f"SELECT COUNT(*) FROM ({sql}) AS listed", params)
            return cursor.fetchone()[0]

    def page_keys(self, bottom: int, top: int):
        """The primary keys at positions [bottom, top) (a queryset or a list)."""
        return self.rows.values("pk")[bottom:top]

    def __getitem__(self, window: slice):
        keys = self.page_keys(window.start, window.stop)
        page = self.decorate(self.rows.model._base_manager.filter(pk__in=keys))
        return page.order_by(*(self.rows.query.order_by or self.rows.model._meta.ordering))


class KeyedPagination(PrimaryPagination):
    """PrimaryPagination over a KeyedList; the view's `decorate(queryset)`, if any, is the
    second step."""

    def paginate_queryset(self, queryset, request, view=None):
        if not isinstance(queryset, KeyedList):
            queryset = KeyedList(queryset, decorate=getattr(view, "decorate", None))
        return super().paginate_queryset(queryset, request, view)


class CappedPagination(KeyedPagination):
    """For a KeyedList that counts up to a cap (a search for a common fragment should not
    pay for counting every match): its `count()` is at most the cap, and its `capped` says
    whether there are more. Pages past the cap are not served."""

    def _meta(self):
        return {**super()._meta(), "totalCapped": self.page.paginator.object_list.capped}

    def get_paginated_response_schema(self, schema):
        response = super().get_paginated_response_schema(schema)
        pagination = response["properties"]["data"]["properties"]["pagination"]
        pagination["properties"]["totalCapped"] = {
            "type": "boolean", "description": "true: there are more than `total` (the cap); pages stop there"}
        return response
