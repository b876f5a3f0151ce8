import io
from datetime import timedelta

from django.utils import timezone
from PIL import Image

from files.models import FileVersion
from files.tests.helpers import upload


def png(seed: int = 0) -> bytes:
    """A real small PNG (so the preview pipeline is happy), different per seed."""
    out = io.BytesIO()
    Image.new("RGB", (4, 4), ((seed * 37) % 256, (seed * 91) % 256, 7)).save(out, "PNG")
    return out.getvalue()


def upload_kinds(client, tag: str = "") -> dict:
    """An image, two documents and an archive; returns their sizes by category."""
    image = png(len(tag) + 1)
    upload(client, f"photo{tag}.png", image, content_type="image/png")
    upload(client, f"notes{tag}.txt", b"plain text " + tag.encode(), content_type="text/plain")
    upload(client, f"report{tag}.pdf", b"%PDF-1.4 not really" + tag.encode(), content_type="application/pdf")
    upload(client, f"bundle{tag}.zip", b"PK\x03\x04 zip-ish" + tag.encode(), content_type="application/zip")
    return {
        "image": len(image),
        "document": len(b"plain text " + tag.encode()) + len(b"%PDF-1.4 not really" + tag.encode()),
        "archive": len(b"PK\x03\x04 zip-ish" + tag.encode()),
    }


def backdate(file_id: str, days: int) -> None:
    """Pretend a file's versions (and their blobs) were made `days` days ago."""
    moment = timezone.now() - timedelta(days=days)
    versions = FileVersion.objects.filter(node__uuid=file_id)
    from files.models import Blob

    Blob.objects.filter(pk__in=versions.values("blob_id")).update(created_at=moment)
    versions.update(created_at=moment)
