"""QR codes that open a node by its capability token, made once and reused."""

import hashlib
import io

from storage_site.core import storage


def qr_key(token: str) -> str:
    # Named after a hash of the token: the image's URL does not reveal the token,
    # and a rotated token gets a new image.
    return f"qr/{hashlib.sha256(token.encode()).hexdigest()[:40]}.png"


def qr_ensure(*, token: str, url: str) -> str:
    """The storage key of a PNG QR code for `url`, generated on first use."""
    key = qr_key(token)
    if not storage.exists(key):
        import qrcode  # with Pillow behind it (~6 MiB): loaded by the first QR code, not by every web process

        image = qrcode.make(url, box_size=8, border=2)
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        buffer.seek(0)
        try:
            storage.put_stream(key, buffer)
        except OSError:
            if not storage.exists(key):  # not a parallel request that made it first
                raise
    return key
