"""JSON answers for requests that never reach a DRF view (unknown URLs, crashes)."""

from django.http import JsonResponse

from .api import prefers_html
from .exceptions import NotFound, ApplicationError, render_error


def _dialect_for(path: str) -> str:
    if path.startswith(("/api/nodes", "/auth", "/upload/")):
        return "fileago"
    if path.startswith(("/storage/api/", "/api/v4/")):
        return "streamvault"
    return "primary"


def not_found(request, exception=None):
    if prefers_html(request) and not request.path.startswith(("/api/", "/storage/")):
        from web.pages import error_page, harden  # a person's mistyped address gets a page

        return harden(error_page(request, status=404, title="Not found", message="There is nothing at this address."))
    return JsonResponse(render_error(NotFound(), _dialect_for(request.path)), status=404)


def server_error(request):
    error = ApplicationError("Internal server error.", code="INTERNAL_ERROR", status_code=500)
    return JsonResponse(render_error(error, _dialect_for(request.path)), status=500)
