"""Content-addressed blobs: write once, reference many times, collect when unused."""

import uuid
from collections import Counter

from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

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
    Must run inside a transaction: one statement, an insert that adds the reference
    to the existing row instead when the content is stored already (either way the
    row stays locked until the commit, so a collection cannot take it meanwhile)."""
    table = connection.ops.quote_name(Blob._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (sha256, size, storage_key, ref_count, created_at) VALUES (%s, %s, %s, 1, %s) "
            f"ON CONFLICT (sha256) DO UPDATE SET ref_count = {table}.ref_count + 1 "
            "RETURNING id, size, storage_key, ref_count",
            [sha256, size, storage_key, connection.ops.adapt_datetimefield_value(timezone.now())])
        pk, stored_size, key, ref_count = cursor.fetchone()
    blob = Blob.from_db(connection.alias, ["id", "sha256", "size", "storage_key", "ref_count"],
                        [pk, sha256, stored_size, key, ref_count])
    return blob, key == storage_key


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
