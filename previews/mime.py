"""What a declared MIME type, or a file's first bytes, say about a file's previews.
Apart from render.py so that the web processes, which only ask for previews, never
load Pillow, pillow-heif and the other decoders (~6 MiB per process); the previews
worker renders.
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


# --- what the first bytes say (the content decides: a declared type is only a fallback) ---

SNIFF_BYTES = 64  # how much of a file sniffing reads
_HEIF_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"hevm", b"hevs", b"mif1", b"msf1",
                b"avif", b"avis"}
_AUDIO_MP4_BRANDS = {b"M4A ", b"M4B ", b"M4P ", b"F4A ", b"F4B "}


def sniff(head: bytes) -> str | None:
    """The media kind from a file's first bytes (at least 16), or None when unknown."""
    if head.startswith(b"\xff\xd8\xff") or head.startswith(b"\x89PNG\r\n\x1a\n") or \
            head[:6] in (b"GIF87a", b"GIF89a") or head[:4] in (b"II*\x00", b"MM\x00*"):
        return MediaKind.IMAGE
    if head[:4] == b"RIFF":
        return {b"WEBP": MediaKind.IMAGE, b"AVI ": MediaKind.VIDEO, b"WAVE": MediaKind.AUDIO}.get(head[8:12])
    if head[4:8] == b"ftyp":  # ISO base media: HEIF photos, MP4/MOV video, M4A audio
        brand = head[8:12]
        if brand in _HEIF_BRANDS:
            return MediaKind.IMAGE
        return MediaKind.AUDIO if brand in _AUDIO_MP4_BRANDS else MediaKind.VIDEO
    if head.startswith(b"%PDF-"):
        return MediaKind.DOCUMENT
    if head.startswith(b"\x1aE\xdf\xa3") or head.startswith(b"\x00\x00\x01\xba") or head[4:8] in (b"moov", b"mdat"):
        return MediaKind.VIDEO  # Matroska/WebM, MPEG-PS, QuickTime without ftyp
    if head.startswith((b"ID3", b"fLaC", b"OggS", b"FORM")) or \
            (len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0):
        return MediaKind.AUDIO  # tagged MP3, FLAC, Ogg, AIFF, bare MPEG audio frames
    return None


def looks_like_markup(head: bytes) -> bool:
    text = head.lstrip(b"\xef\xbb\xbf\xfe\xff \t\r\n").lower()
    return text.startswith((b"<?xml", b"<svg", b"<!doctype", b"<html", b"<"))
