from django.core.paginator import Paginator
from django.utils.functional import cached_property
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


class CappedPaginator(Paginator):
    """Counts at most CAP rows: a search for a common fragment should not pay for
    counting every match. Past the cap, `total` is the cap and `totalCapped` is true."""

    CAP = 10_000

    @cached_property
    def count(self):
        return self.object_list[: self.CAP + 1].count()


class CappedPagination(PrimaryPagination):
    django_paginator_class = CappedPaginator

    def _meta(self):
        meta = super()._meta()
        capped = self.page.paginator.count > CappedPaginator.CAP
        if capped:
            meta["total"] = CappedPaginator.CAP
            meta["totalPages"] = -(-CappedPaginator.CAP // self.page.paginator.per_page)
        meta["totalCapped"] = capped
        return meta
