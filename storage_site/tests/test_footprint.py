"""What a web process loads. Decoders (Pillow, pillow-heif, PDFium, PyAV) belong to the
process that renders previews or makes a QR code, not to every web worker: loaded at
boot they cost each worker ~10 MiB for nothing (the RSS figures of `make bench`)."""

import subprocess
import sys

from django.conf import settings

DECODERS = ["PIL", "pillow_heif", "pypdfium2", "av", "mutagen", "qrcode"]

PROBE = f"""
import sys
from django.core.wsgi import get_wsgi_application
from django.urls import get_resolver
get_wsgi_application()
get_resolver().url_patterns  # every view module
print(",".join(name for name in {DECODERS!r} if name in sys.modules))
"""


def test_the_web_application_loads_no_decoders():
    loaded = subprocess.run([sys.executable, "-c", PROBE], cwd=settings.BASE_DIR, capture_output=True, text=True,
                            check=True, timeout=120).stdout.strip()
    assert loaded == ""
