"""One streamed download response for every route that serves file bytes:
`Range` (206/416), ETag and Last-Modified with conditional GET, a safe
Content-Disposition, and never an inline HTML/SVG page."""

import re

from django.http import FileResponse, HttpResponse, StreamingHttpResponse
from django.utils.http import content_disposition_header, http_date, parse_http_date_safe, quote_etag

from storage_site.core import storage

from ..models import FileVersion

# Types a browser would run as a page or script: only ever attachments, sandboxed.
ACTIVE_TYPES = {"text/html", "application/xhtml+xml", "image/svg+xml", "text/xml", "application/xml",
                "text/javascript", "application/javascript"}
INLINE_OK = ("image/", "video/", "audio/", "text/plain", "application/pdf")

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
# One plain type/subtype. Of a list like "image/png,text/html,x" a browser takes the
# last valid type, so anything else is served as bytes.
_MIME = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]*/[a-z0-9][a-z0-9!#$&^_.+-]*")


def _parse_range(header: str, size: int):
    """(start, end) for a single satisfiable range; None to serve everything; 'bad' for 416."""
    match = _RANGE.match(header.strip())
    if not match:
        return None  # several ranges or another unit: serving the whole file is allowed
    first, last = match.groups()
    if first == "" and last == "":
        return None
    if first == "":
        length = int(last)
        if length == 0:
            return "bad"
        return max(0, size - length), size - 1
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if start >= size or (last and int(last) < start):
        return "bad"
    return start, end


def stream_version(request, version: FileVersion, *, name: str, inline: bool = False):
    size = version.size
    etag = quote_etag(version.blob.sha256)
    last_modified = version.created_at.timestamp()
    mime = (version.mime_type or "").lower()
    mime = mime if _MIME.fullmatch(mime) else "application/octet-stream"

    if_none_match = request.headers.get("If-None-Match")
    # Weak comparison (RFC 9110 §13.1.2): a compressing proxy hands out W/"…".
    if if_none_match and (if_none_match.strip() == "*" or
                          etag in [t.strip().removeprefix("W/") for t in if_none_match.split(",")]):
        return _not_modified(etag, last_modified)
    if not if_none_match:
        since = parse_http_date_safe(request.headers.get("If-Modified-Since", ""))
        if since is not None and int(last_modified) <= since:
            return _not_modified(etag, last_modified)

    byte_range = None
    range_header = request.headers.get("Range")
    if range_header and size > 0:
        if_range = request.headers.get("If-Range")
        if not if_range or if_range.strip() == etag:
            byte_range = _parse_range(range_header, size)
    if byte_range == "bad":
        response = HttpResponse(status=416)
        response["Content-Range"] = f"bytes */{size}"
        return _harden(response, mime, name, inline=False)

    start, end = byte_range if byte_range else (0, size - 1)
    status = 206 if byte_range else 200
    key = version.blob.storage_key
    local = storage.open_local_range(key, start, end) if size else None
    if local is not None:
        # A real file: gunicorn sends it with sendfile(2) (wsgi.file_wrapper), never through Python.
        response = FileResponse(local, status=status, content_type=mime)
        response.block_size = storage.CHUNK_SIZE  # servers without sendfile read it in these blocks
    else:
        body = storage.read_range(key, start, end) if size else iter(())
        response = StreamingHttpResponse(body, status=status, content_type=mime)
    response["Content-Length"] = str(end - start + 1 if size else 0)
    if byte_range:
        response["Content-Range"] = f"bytes {start}-{end}/{size}"
    response["Accept-Ranges"] = "bytes"
    response["ETag"] = etag
    response["Last-Modified"] = http_date(last_modified)
    response["Cache-Control"] = "private, no-cache"
    return _harden(response, mime, name, inline=inline)


def _not_modified(etag, last_modified):
    response = HttpResponse(status=304)
    response["ETag"] = etag
    response["Last-Modified"] = http_date(last_modified)
    return response


def _harden(response, mime: str, name: str, *, inline: bool):
    active = mime in ACTIVE_TYPES or mime.endswith(("+xml", "/html"))
    as_attachment = active or not inline or not mime.startswith(INLINE_OK)
    response["Content-Disposition"] = content_disposition_header(as_attachment, name)
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "sandbox; default-src 'none'"
    if active:
        response["Content-Type"] = "application/octet-stream"
    return response
