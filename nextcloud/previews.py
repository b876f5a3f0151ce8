"""Thumbnails as the Nextcloud apps ask for them: `/index.php/core/preview?fileId=&x=&y=`
and `/index.php/core/preview.png?file=`, served from the preview pipeline's images
(never the original); 404 while none is ready, as Nextcloud answers."""

from django.http import HttpResponse, StreamingHttpResponse
from django.utils.http import quote_etag
from django.views.decorators.http import require_GET

from dav import auth
from previews import selectors as preview_selectors
from previews import services as preview_services
from previews.models import PreviewStatus, PreviewType
from storage_site.core import storage

from . import selectors

# The pipeline's thumbnail's longest side; a larger ask gets the medium image.
THUMBNAIL_SIDE = 256


def _size(value: str | None, default: int) -> int | None:
    if value in (None, ""):
        return default
    try:
        size = int(value)
    except ValueError:
        return None
    return size if 0 < size <= 8192 else None


def _text(status: int, message: str) -> HttpResponse:
    return HttpResponse(message + "\n", status=status, content_type="text/plain; charset=utf-8")


@require_GET
def preview(request):
    user, refusal = auth.authenticate(request)
    if refusal is not None:
        return refusal
    x, y = _size(request.GET.get("x"), 32), _size(request.GET.get("y"), 32)
    if x is None or y is None:
        return _text(400, "x and y must be whole numbers from 1 to 8192.")
    if "file" in request.GET:
        node = selectors.own_file(user=user, path=request.GET["file"])
    else:
        file_id = request.GET.get("fileId", "")
        if not file_id.isdigit():
            return _text(400, "fileId must be a file id.")
        node = selectors.own_file(user=user, file_id=int(file_id))
    if node is None:
        return _text(404, "File not found.")
    blob_id = preview_selectors.file_blob_id(node)
    kind = PreviewType.THUMBNAIL if max(x, y) <= THUMBNAIL_SIDE else PreviewType.MEDIUM
    row = preview_selectors.previews_of(blob_id).get(kind) if blob_id else None
    if row is None and blob_id:  # content from before previews existed: ask for them now
        preview_services.previews_request(blobs={blob_id: node.mime_type}, retry_failed=False)
        row = preview_selectors.previews_of(blob_id).get(kind)
    if row is None or row.status != PreviewStatus.READY:
        return _text(404, "No preview is ready for this file.")
    etag = quote_etag(row.sha256)
    if etag in [tag.strip().removeprefix("W/") for tag in request.headers.get("If-None-Match", "").split(",")]:
        response = HttpResponse(status=304)
    else:
        response = StreamingHttpResponse(storage.read_range(row.storage_key), content_type=row.content_type)
        response["Content-Length"] = str(row.bytes)
    response["ETag"] = etag
    response["Cache-Control"] = "private, no-cache"
    response["X-Content-Type-Options"] = "nosniff"
    return response
