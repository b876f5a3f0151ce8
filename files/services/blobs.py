"""Content-addressed blobs: write once, reference many times, collect when unused."""

import uuid
from collections import Counter

from django.db import IntegrityError, transaction
from django.db.models import F

from storage_site.core import storage

from ..models import Blob


def blob_key_new() -> str:
    """A fresh random storage key; never derived from user input."""
    key = uuid.uuid4().hex
    return f"blobs/{key[:2]}/{key}"


def blob_acquire(*, sha256: str, size: int, storage_key: str) -> tuple[Blob, bool]:
    """Take a reference on the blob with this content, creating it with the object
    just written at `storage_key` if it is new. Returns (blob, created); when the
    content existed already, the caller's object is a duplicate to delete on commit.
    Must run inside a transaction."""
    blob = Blob.objects.select_for_update().filter(sha256=sha256).first()
    if blob is None:
        try:
            with transaction.atomic():
                return Blob.objects.create(sha256=sha256, size=size, storage_key=storage_key, ref_count=1), True
        except IntegrityError:  # the same content landed in parallel
            blob = Blob.objects.select_for_update().get(sha256=sha256)
    Blob.objects.filter(pk=blob.pk).update(ref_count=F("ref_count") + 1)
    return blob, False


def blobs_ref(counts: Counter) -> None:
    """Add references: {blob_id: how many}."""
    for blob_id, count in counts.items():
        Blob.objects.filter(pk=blob_id).update(ref_count=F("ref_count") + count)


def blobs_unref(counts: Counter) -> None:
    """Drop references; a blob reaching 0 is left for `blobs_collect`."""
    for blob_id, count in counts.items():
        Blob.objects.filter(pk=blob_id).update(ref_count=F("ref_count") - count)


def blobs_collect(*, limit: int = 1000) -> int:
    """Delete blobs nobody references, row first, object after commit."""
    collected = 0
    for blob_id in Blob.objects.filter(ref_count=0).values_list("pk", flat=True)[:limit]:
        with transaction.atomic(durable=True):
            blob = Blob.objects.select_for_update().filter(pk=blob_id, ref_count=0).first()
            if blob is None:
                continue
            key = blob.storage_key
            blob.delete()
            transaction.on_commit(lambda key=key: storage.delete(key))
            collected += 1
    return collected
