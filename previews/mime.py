"""What a declared MIME type says about a file's previews. Apart from render.py so
that the web processes, which only ask for previews, never load Pillow, pillow-heif
and the other decoders (~6 MiB per process); the previews worker renders.
"""

from .models import MediaKind

PREVIEWABLE_MIME = {"application/pdf"}
NEVER_RENDERED_MIME = {"image/svg+xml", "text/html", "application/xhtml+xml", "text/xml", "application/xml"}

CONTENT_TYPES = {"webp": "image/webp", "jpeg": "image/jpeg"}


def kind_from_mime(mime: str) -> str | None:
    """The media kind a declared MIME type suggests: a kind, None when it says
    nothing (octet-stream), or OTHER when it names content that gets no preview."""
    mime = (mime or "").split(";")[0].strip().lower()
    if not mime or mime in ("application/octet-stream", "binary/octet-stream"):
        return None
    if mime in NEVER_RENDERED_MIME or mime.endswith(("+xml", "/html")):
        return MediaKind.OTHER
    if mime in PREVIEWABLE_MIME:
        return MediaKind.DOCUMENT
    major = mime.split("/", 1)[0]
    if major in ("image", "video", "audio"):
        return major
    return MediaKind.OTHER
