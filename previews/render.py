"""Content → preview images, with no database and no storage: every function takes
a readable, seekable binary file and returns encoded raster images.

The kind of content is sniffed from its first bytes (the declared MIME type is only
a fallback), so an SVG or HTML page named `photo.jpg` is never handed to a
renderer, and only raster formats Pillow decodes itself are opened. Errors are
`Unsupported` (there is no preview for this content; not a failure) or any other
exception (a failure; `describe()` turns it into a reason for people).
"""

import base64
import io
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from PIL import Image, ImageOps, ImageStat, UnidentifiedImageError

from .mime import SNIFF_BYTES, kind_from_mime, looks_like_markup, sniff
from .models import MediaKind

logger = logging.getLogger(__name__)

try:  # HEIC/HEIF photos (iPhones); registers an opener with Pillow
    import pillow_heif

    pillow_heif.register_heif_opener()
except ImportError:  # pragma: no cover - installed with the project
    pillow_heif = None

# Raster formats a preview is made from; anything Pillow knows beyond these (EPS, for
# one, runs Ghostscript) is not opened.
RASTER_FORMATS = ["JPEG", "PNG", "GIF", "WEBP", "TIFF", "BMP", "HEIF", "AVIF"]


class Unsupported(Exception):
    """No preview can be made of this content (not an error)."""

    def __init__(self, reason: str, *, kind: str = MediaKind.OTHER, metadata: dict | None = None):
        super().__init__(reason)
        self.reason, self.kind, self.metadata = reason, kind, metadata or {}


class RenderError(Exception):
    """The content claims a kind it turned out not to be readable as."""


@dataclass
class Encoded:
    data: bytes
    width: int
    height: int


@dataclass
class Rendered:
    kind: str
    images: dict[str, Encoded]  # by preview type
    metadata: dict = field(default_factory=dict)


@dataclass
class Options:
    sizes: dict[str, int]  # preview type → longest side in px
    format: str = "webp"
    quality: int = 80
    max_pixels: int = 50_000_000  # decoded pixels (after JPEG's reduced-scale decode); PREVIEW_MAX_PIXELS


# --- what is it ----------------------------------------------------------------------

def render(fp, *, declared: Callable[[], list[str]], options: Options) -> Rendered:
    """Previews of the content in `fp`; `declared()` gives the MIME types files of this
    content were uploaded with (a fallback, called only when sniffing finds nothing)."""
    head = fp.read(SNIFF_BYTES)
    fp.seek(0)
    kind = sniff(head)
    if kind is None:
        if looks_like_markup(head):
            raise Unsupported("SVG, HTML and XML documents are never rendered.")
        hinted = [k for k in (kind_from_mime(m) for m in declared()) if k]
        kind = hinted[0] if hinted else None
        if kind in (None, MediaKind.OTHER):
            raise Unsupported("No preview is made for this type of file.")
    if kind == MediaKind.IMAGE:
        images, metadata = render_image(fp, options)
        return Rendered(kind, images, metadata)
    if kind == MediaKind.VIDEO:
        return render_video(fp, options)
    if kind == MediaKind.AUDIO:
        return render_audio(fp, options)
    return render_pdf(fp, options)


# --- images --------------------------------------------------------------------------

def render_image(fp, options: Options) -> tuple[dict[str, Encoded], dict]:
    largest = max(options.sizes.values())
    with Image.open(fp, formats=RASTER_FORMATS) as image:
        _refuse_bombs(image)
        metadata = {"width": image.width, "height": image.height, "format": image.format, "mode": image.mode}
        if getattr(image, "n_frames", 1) > 1:
            metadata["frames"] = image.n_frames
        # Big JPEGs decode at 1/2..1/8 scale (DCT scaling): memory and time fall with it.
        image.draft("RGB", (largest, largest))
        _refuse_large(image, options.max_pixels)
        image.load()
        ImageOps.exif_transpose(image, in_place=True)  # no copy when already upright
        return encode_all(image, options), metadata


def _refuse_bombs(image: Image.Image) -> None:
    """Pillow refuses more than twice MAX_IMAGE_PIXELS when it opens an image, but only
    warns above MAX_IMAGE_PIXELS: a preview refuses both. Checked here rather than by
    turning the warning into an error, because warning filters are process-wide and
    previews are made in several threads at once."""
    limit = Image.MAX_IMAGE_PIXELS
    if limit and image.width * image.height > limit:
        raise Image.DecompressionBombError(
            f"Image size ({image.width * image.height} pixels) exceeds limit of {limit} pixels, "
            "could be decompression bomb DOS attack.")


class TooLarge(RenderError):
    """More pixels to decode than a preview may hold in memory."""


def _refuse_large(image: Image.Image, limit: int) -> None:
    """Before decoding: the pixels the decoder will produce (a JPEG's at its reduced
    scale) stay under `limit`. Pillow holds up to 4 bytes a pixel, so this bounds a
    preview's memory too (50 megapixels: 200 MB decoded)."""
    pixels = image.width * image.height
    if limit and pixels > limit:
        raise TooLarge(f"The image is too large to preview: {image.width} × {image.height} pixels "
                       f"({pixels / 1e6:.1f} megapixels) to decode, over the limit of {limit / 1e6:g} megapixels.")


def _flatten(image: Image.Image) -> Image.Image:
    """RGB, or RGBA when the image has transparency; 16-bit and CMYK scaled down."""
    if image.mode in ("RGB", "RGBA"):
        return image
    if image.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        return image.convert("I").point(lambda v: v * (1 / 256)).convert("L").convert("RGB")
    if image.mode == "F":
        return image.convert("L").convert("RGB")
    transparent = image.mode in ("LA", "La", "PA", "RGBa") or "transparency" in image.info
    return image.convert("RGBA" if transparent else "RGB")


def _fit(image: Image.Image, longest: int) -> Image.Image:
    """Shrunk to fit `longest` (never enlarged). A box filter averages the source pixels
    each output pixel covers: no aliasing when shrinking, and about 40 % faster than the
    bilinear filter on a 12-megapixel photo (the preview path's second cost after the
    decode; measured 16 vs 29 ms for 2000×1500 → 1024×768). Whole factors are taken
    first by `reduce` (the same box average, faster): 1024 → 256 px in 1 ms rather
    than 3, a 12-megapixel PNG → 1024 px in 30 ms rather than 43."""
    scale = longest / max(image.size)
    if scale >= 1:
        return image
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    return image.resize(size, Image.Resampling.BOX, reducing_gap=1.0)


def encode_all(image: Image.Image, options: Options) -> dict[str, Encoded]:
    """Each size from the next larger one, largest first (cheaper than from the original)."""
    image = _flatten(image)
    result, source = {}, image
    for name, longest in sorted(options.sizes.items(), key=lambda item: -item[1]):
        source = _fit(source, longest)
        result[name] = Encoded(encode(source, options), source.width, source.height)
    return result


def encode(image: Image.Image, options: Options) -> bytes:
    """A raster file with no metadata at all (no EXIF, XMP or ICC profile)."""
    buffer = io.BytesIO()
    if options.format == "jpeg":
        if image.mode == "RGBA":
            background = Image.new("RGB", image.size, (255, 255, 255))
            background.paste(image, mask=image.getchannel("A"))
            image = background
        image.save(buffer, "JPEG", quality=options.quality)
    else:
        image.save(buffer, "WEBP", quality=options.quality, method=_webp_method(image))
    return buffer.getvalue()


WEBP_FAST_ABOVE = 512 * 512  # pixels


def _webp_method(image: Image.Image) -> int:
    """libwebp's effort (0-6) changes the size of a file, not its quality (the same PSNR
    at one `quality`). For a 1024 px medium of a photo, method 0 takes about 14 ms of
    CPU where method 2 takes 22 (8 ms of a task of about 100), for a file a third
    larger (24 vs 18 KiB). A thumbnail costs 2 ms either way, and is what file lists
    load by the dozen: it keeps method 2."""
    return 0 if image.width * image.height > WEBP_FAST_ABOVE else 2


# --- video ---------------------------------------------------------------------------

POSTER_AT = 0.1  # of the duration...
POSTER_AT_MOST = 60.0  # ...but not later than this (seconds)
DARK_MEAN = 16  # mean luma (0-255) at or below which a frame counts as black
FRAMES_PER_TRY = 48  # decoded after a seek before giving up on that spot
PACKETS_PER_TRY = 400  # read after a seek; a stream that never decodes stops here


def render_video(fp, options: Options) -> Rendered:
    import av

    try:
        container = av.open(fp, mode="r")
    except av.error.FFmpegError as exc:
        raise RenderError(f"Not a readable video: {exc}") from None
    with container:
        if not container.streams.video:
            if container.streams.audio:
                fp.seek(0)
                return render_audio(fp, options)
            raise RenderError("The file has no video stream.")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        ctx = stream.codec_context
        duration = None
        if container.duration:
            duration = container.duration / av.time_base
        elif stream.duration and stream.time_base:
            duration = float(stream.duration * stream.time_base)
        metadata = {"duration": round(duration, 3) if duration else None, "width": ctx.width, "height": ctx.height,
                    "codec": ctx.name, "container": container.format.name,
                    "frameRate": round(float(stream.average_rate), 3) if stream.average_rate else None,
                    "bitRate": container.bit_rate or None}
        if container.streams.audio:
            metadata["audioCodec"] = container.streams.audio[0].codec_context.name
        frame = _poster_frame(container, stream, duration)
        if frame is None:
            raise RenderError("No frame of the video could be decoded.")
        largest = max(options.sizes.values())
        image = _frame_image(frame, largest)
        metadata["posterAt"] = round(float(frame.time), 3) if frame.time is not None else None
    return Rendered(MediaKind.VIDEO, encode_all(image, options), metadata)


def _poster_frame(container, stream, duration):
    """A frame about 10 % in (at most a minute), skipping black ones; the brightest
    seen if every try is dark. None when nothing decodes."""
    import av

    spots = [min(duration * POSTER_AT, POSTER_AT_MOST), duration * 0.3, duration * 0.5] if duration else [0.0]
    best, best_mean = None, -1.0
    for spot in spots:
        if spot > 0:
            offset = int(spot / stream.time_base) + (stream.start_time or 0)
            try:
                container.seek(offset, stream=stream, backward=True, any_frame=False)
            except av.error.FFmpegError:
                continue
        for frame in _decoded(container, stream):
            mean = _luma(frame)
            if mean > DARK_MEAN:
                return frame
            if mean > best_mean:
                best, best_mean = frame, mean
    return best


def _decoded(container, stream):
    """Up to FRAMES_PER_TRY frames from the current position; bad packets are skipped."""
    import av

    frames = packets = 0
    for packet in container.demux(stream):
        packets += 1
        if packets > PACKETS_PER_TRY:
            return
        try:
            decoded = packet.decode()
        except av.error.FFmpegError:
            continue
        for frame in decoded:
            frames += 1
            yield frame
            if frames >= FRAMES_PER_TRY:
                return


def _luma(frame) -> float:
    small = frame.to_image(width=32, height=18)  # scaled by swscale: cheap even for 4K
    return ImageStat.Stat(small.convert("L")).mean[0]


def _frame_image(frame, largest: int) -> Image.Image:
    width, height = frame.width, frame.height
    scale = min(1.0, largest / max(width, height))
    image = frame.to_image(width=max(1, round(width * scale)), height=max(1, round(height * scale)))
    rotation = getattr(frame, "rotation", 0) or 0  # phones record portrait video as rotated landscape
    if rotation % 360:
        image = image.rotate(rotation, expand=True)
    return image


# --- audio ---------------------------------------------------------------------------

def render_audio(fp, options: Options) -> Rendered:
    import mutagen

    try:
        audio = mutagen.File(fp)
    except mutagen.MutagenError as exc:
        raise RenderError(f"Not a readable audio file: {exc}") from None
    if audio is None:
        raise RenderError("Not a recognised audio format.")
    info = audio.info
    metadata = {"duration": round(info.length, 3) if getattr(info, "length", None) else None,
                "format": type(audio).__name__,
                "bitRate": getattr(info, "bitrate", None) or None,
                "sampleRate": getattr(info, "sample_rate", None), "channels": getattr(info, "channels", None)}
    cover = _cover_art(audio)
    if cover is None:
        raise Unsupported("The audio file has no embedded cover art.", kind=MediaKind.AUDIO, metadata=metadata)
    images, cover_metadata = render_image(io.BytesIO(cover), options)
    metadata["cover"] = cover_metadata
    return Rendered(MediaKind.AUDIO, images, metadata)


def _cover_art(audio) -> bytes | None:
    """Front cover (or the first picture) from ID3 APIC, FLAC pictures, MP4 covr or
    Vorbis METADATA_BLOCK_PICTURE."""
    pictures = list(getattr(audio, "pictures", None) or [])  # FLAC
    tags = audio.tags
    if tags is not None:
        if hasattr(tags, "getall"):  # ID3 (MP3, AIFF, WAV)
            pictures += tags.getall("APIC")
        elif "covr" in tags:  # MP4
            return bytes(tags["covr"][0]) if tags["covr"] else None
        elif "metadata_block_picture" in tags:  # Ogg Vorbis / Opus
            from mutagen.flac import Picture

            for value in tags["metadata_block_picture"]:
                try:
                    pictures.append(Picture(base64.b64decode(value)))
                except Exception:  # a broken tag is just not a cover
                    continue
    if not pictures:
        return None
    front = [p for p in pictures if getattr(p, "type", None) == 3]
    return bytes((front or pictures)[0].data)


# --- PDF -----------------------------------------------------------------------------

_PDFIUM = threading.Lock()  # PDFium is not thread-safe (eager tasks run in web threads)
PDF_MAX_SCALE = 4.0


def render_pdf(fp, options: Options) -> Rendered:
    import pypdfium2 as pdfium

    largest = max(options.sizes.values())
    with _PDFIUM:
        try:
            pdf = pdfium.PdfDocument(fp)
        except pdfium.PdfiumError as exc:
            raise RenderError(f"Not a readable PDF: {exc}") from None
        try:
            pages = len(pdf)
            if not pages:
                raise RenderError("The PDF has no pages.")
            page = pdf[0]
            width, height = page.get_size()  # points
            scale = min(PDF_MAX_SCALE, largest / max(width, height, 1))
            bitmap = page.render(scale=scale, may_draw_forms=False)
            image = bitmap.to_pil().convert("RGB")
            bitmap.close()
            page.close()
        finally:
            pdf.close()
    metadata = {"pages": pages, "pageWidth": round(width, 2), "pageHeight": round(height, 2)}
    return Rendered(MediaKind.DOCUMENT, encode_all(image, options), metadata)


# --- reasons -------------------------------------------------------------------------

def describe(exc: BaseException) -> str:
    """A failure reason for people (preview-info, analytics, the admin)."""
    if isinstance(exc, Image.DecompressionBombError):
        return f"The image is too large to preview (decompression bomb protection): {exc}"[:500]
    if isinstance(exc, UnidentifiedImageError):
        return "The file is not a readable image."
    if isinstance(exc, RenderError):
        return str(exc)[:500]
    if isinstance(exc, FileNotFoundError):
        return "The stored file is missing."
    if isinstance(exc, MemoryError):
        return "The file needs too much memory to preview."
    if isinstance(exc, (OSError, SyntaxError, ValueError, EOFError)):
        return f"The file is corrupt or truncated: {exc}"[:500]
    return f"{type(exc).__name__}: {exc}"[:500]
