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
