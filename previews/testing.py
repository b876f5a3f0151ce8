"""Real sample media made in code, for the tests and bench/previews.py: nothing is
downloaded and nothing binary is checked in."""

import io
import math
import struct
import zlib
from fractions import Fraction

from PIL import Image, ImageDraw

RED, BLUE, GREEN = (220, 20, 20), (20, 20, 220), (20, 200, 20)


def jpeg_rotated(*, width: int = 64, height: int = 32, orientation: int = 6) -> bytes:
    """A landscape JPEG, left half red and right half blue, whose EXIF says to
    display it rotated (6: 90° clockwise, so red ends up on top); with a camera
    make and a GPS block that a preview must not carry."""
    image = Image.new("RGB", (width, height), BLUE)
    ImageDraw.Draw(image).rectangle((0, 0, width // 2 - 1, height), fill=RED)
    exif = Image.Exif()
    exif[0x0112] = orientation
    exif[0x010F] = "StratusCam"  # Make
    exif[0x8825] = {1: "N", 2: (12.0, 58.0, 0.0)}  # GPS IFD
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90, exif=exif)
    return out.getvalue()


def photo_jpeg(*, width: int = 4000, height: int = 3000, seed: int = 0, quality: int = 90) -> bytes:
    """A photo-sized JPEG with gradients and shapes (compresses like a photo, not a flat colour)."""
    small = Image.new("RGB", (64, 48))
    pixels = small.load()
    for y in range(48):
        for x in range(64):
            pixels[x, y] = ((x * 4 + seed * 37) % 256, (y * 5 + seed * 11) % 256, ((x + y) * 3) % 256)
    image = small.resize((width, height), Image.Resampling.BICUBIC)
    draw = ImageDraw.Draw(image)
    for i in range(40):
        x, y = (i * 997 + seed * 131) % width, (i * 571 + seed * 71) % height
        draw.ellipse((x, y, x + width // 10, y + height // 10), fill=((i * 53) % 256, (i * 97) % 256, 128))
    exif = Image.Exif()
    exif[0x0112] = 1
    exif[0x010F] = "StratusCam"
    out = io.BytesIO()
    image.save(out, "JPEG", quality=quality, exif=exif)
    return out.getvalue()


def png(*, width: int = 300, height: int = 200, transparent: bool = True) -> bytes:
    image = Image.new("RGBA" if transparent else "RGB", (width, height), (0, 0, 0, 0) if transparent else GREEN)
    ImageDraw.Draw(image).ellipse((10, 10, width - 10, height - 10), fill=GREEN)
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def heic(*, width: int = 120, height: int = 80) -> bytes:
    import pillow_heif

    pillow_heif.register_heif_opener()
    image = Image.new("RGB", (width, height), RED)
    out = io.BytesIO()
    image.save(out, format="HEIF", quality=80)
    return out.getvalue()


def video(*, seconds: float = 3.0, fps: int = 10, width: int = 160, height: int = 120, black_seconds: float = 1.0,
          gop: int | None = None, codec: str = "libx264", bit_rate: int | None = None, path=None,
          frame_variants: int = 1) -> bytes | None:
    """An MP4: `black_seconds` of black frames, then green frames with a moving box.
    Written to `path` (returns None) or returned as bytes."""
    import av

    target = path or io.BytesIO()
    with av.open(target, mode="w", format="mp4") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.codec_context.gop_size = gop or fps
        if bit_rate:
            stream.bit_rate = bit_rate
        if codec == "libx264":
            stream.options = {"preset": "ultrafast", "tune": "zerolatency"}
        black = av.VideoFrame.from_image(Image.new("RGB", (width, height), (0, 0, 0))).reformat(format="yuv420p")
        variants = []
        for v in range(max(1, frame_variants)):
            image = Image.new("RGB", (width, height), GREEN)
            side = max(8, width // 8)
            x = (v * side) % max(1, width - side)
            ImageDraw.Draw(image).rectangle((x, height // 3, x + side, height // 3 + side), fill=RED)
            variants.append(av.VideoFrame.from_image(image).reformat(format="yuv420p"))
        total = int(seconds * fps)
        for index in range(total):
            frame = black if index < black_seconds * fps else variants[index % len(variants)]
            frame.pts = index
            frame.time_base = Fraction(1, fps)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return None if path else target.getvalue()


def mp3_with_cover(*, seconds: float = 1.0, cover: bytes | None = None) -> bytes:
    """An MP3 (a sine tone) with an ID3 front cover (a blue PNG unless given)."""
    import av
    from mutagen.id3 import APIC, ID3, TIT2

    out = io.BytesIO()
    rate = 44100
    with av.open(out, mode="w", format="mp3") as container:
        stream = container.add_stream("libmp3lame", rate=rate)
        stream.layout = "mono"
        samples, pts = 1152, 0
        while pts < seconds * rate:
            frame = av.AudioFrame(format="s16p", layout="mono", samples=samples)
            tone = (int(8000 * math.sin(2 * math.pi * 440 * (pts + i) / rate)) for i in range(samples))
            frame.planes[0].update(b"".join(struct.pack("<h", value) for value in tone))
            frame.sample_rate, frame.pts = rate, pts
            for packet in stream.encode(frame):
                container.mux(packet)
            pts += samples
        for packet in stream.encode():
            container.mux(packet)
    if cover is None:
        picture = io.BytesIO()
        Image.new("RGB", (300, 300), BLUE).save(picture, "PNG")
        cover = picture.getvalue()
    tags = ID3()
    tags.add(TIT2(encoding=3, text="Stratus tone"))
    tags.add(APIC(encoding=3, mime="image/png", type=3, desc="Cover", data=cover))
    out.seek(0)
    tags.save(out)
    return out.getvalue()


def pdf(*, width: int = 200, height: int = 300) -> bytes:
    """A one-page PDF (points) with a red rectangle on its upper half."""
    content = f"1 0 0 rg 0 {height // 2} {width} {height // 2} re f".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {width} {height}] /Contents 4 0 R >>".encode(),
        b"<< /Length " + str(len(content)).encode() + b" >>\nstream\n" + content + b"\nendstream",
    ]
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(f"{number} 0 obj\n".encode() + body + b"\nendobj\n")
    xref = out.tell()
    out.write(f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode())
    for offset in offsets:
        out.write(f"{offset:010d} 00000 n \n".encode())
    out.write(f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode())
    return out.getvalue()


def corrupt_jpeg() -> bytes:
    """A JPEG cut off a third of the way through its data."""
    whole = photo_jpeg(width=400, height=300)
    return whole[:len(whole) // 3]


def pixel_bomb_png(*, width: int = 100_000, height: int = 100_000) -> bytes:
    """A tiny PNG whose header declares `width` × `height` pixels."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
            + chunk(b"IEND", b""))


def flat_png(*, width: int, height: int) -> bytes:
    """A complete, valid RGB PNG of one colour: tiny compressed, `width` × `height` decoded.
    Written row by row, so even 9400 × 9400 costs the test no memory."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    row = b"\x00" + b"\x40\x80\xc0" * width  # filter "none", then the pixels
    packer = zlib.compressobj(9)
    data = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")


SVG = (b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="100" height="100">'
       b'<script>alert(document.cookie)</script><rect width="100" height="100" fill="red"/></svg>')
