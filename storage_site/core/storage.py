"""A small adapter over Django's default storage: streamed, hashed writes and
ranged, streamed reads. Nothing else in the project touches boto3 or the disk.

Local storage (FileSystemStorage) and S3 (django-storages) behave the same here;
for S3 a ranged read is one GET with a `Range` header, streamed in chunks.
"""

import hashlib
import logging
from collections.abc import Iterator

from django.core.files import File
from django.core.files.storage import storages

from .exceptions import StorageUnavailable

logger = logging.getLogger(__name__)

CHUNK_SIZE = 1024 * 1024


def _storage():
    return storages["default"]


def is_s3() -> bool:
    return hasattr(_storage(), "bucket_name")


class HashingReader:
    """Reads a stream once, counting and hashing what passes through."""

    closed = False

    def __init__(self, stream, limit: int | None = None):
        self._stream = stream
        self._limit = limit
        self.size = 0
        self.sha256 = hashlib.sha256()

    def read(self, n: int = -1) -> bytes:
        if self._limit is not None:
            remaining = self._limit - self.size
            if remaining <= 0:
                return b""
            n = remaining if n is None or n < 0 else min(n, remaining)
        data = self._stream.read(n)
        self.size += len(data)
        self.sha256.update(data)
        return data

    def seekable(self) -> bool:
        # Never rewound: every byte is hashed exactly once.
        return False


def put_stream(key: str, stream, *, size_hint: int | None = None) -> tuple[int, str]:
    """Write a stream to `key` without holding it in memory. Returns (size, sha256)."""
    reader = HashingReader(stream)
    wrapped = File(reader, name=key)
    if size_hint is not None:
        wrapped.size = size_hint
    try:
        saved = _storage().save(key, wrapped)
    except OSError as exc:
        raise StorageUnavailable() from exc
    except Exception as exc:  # botocore errors: endpoint down, 5xx
        if exc.__class__.__module__.startswith(("botocore", "boto3", "s3transfer")):
            logger.warning("S3 write failed for %s: %s", key, exc)
            raise StorageUnavailable() from exc
        raise
    if saved != key:  # the storage renamed it: a key clash that must never happen
        _storage().delete(saved)
        raise RuntimeError(f"storage key {key} already existed")
    return reader.size, reader.sha256.hexdigest()


def read_range(key: str, start: int = 0, end: int | None = None) -> Iterator[bytes]:
    """Yield bytes `start`..`end` (inclusive) of an object, in chunks."""
    storage = _storage()
    if is_s3():
        yield from _s3_range(storage, key, start, end)
        return
    with open(storage.path(key), "rb") as fh:
        fh.seek(start)
        remaining = None if end is None else end - start + 1
        while remaining is None or remaining > 0:
            data = fh.read(CHUNK_SIZE if remaining is None else min(CHUNK_SIZE, remaining))
            if not data:
                return
            if remaining is not None:
                remaining -= len(data)
            yield data


def _s3_range(storage, key, start, end):
    client = storage.connection.meta.client
    params = {"Bucket": storage.bucket_name, "Key": storage._normalize_name(key)}
    if start or end is not None:
        params["Range"] = f"bytes={start}-{'' if end is None else end}"
    try:
        body = client.get_object(**params)["Body"]
    except Exception as exc:
        logger.warning("S3 read failed for %s: %s", key, exc)
        raise StorageUnavailable() from exc
    try:
        yield from body.iter_chunks(CHUNK_SIZE)
    finally:
        body.close()


def local_path(key: str) -> str | None:
    """The file's path when storage is local (lets the server use sendfile)."""
    return None if is_s3() else _storage().path(key)


def delete(key: str) -> None:
    try:
        _storage().delete(key)
    except Exception:  # deleting is best effort; the reconciler collects leftovers
        logger.warning("could not delete %s", key, exc_info=True)


def exists(key: str) -> bool:
    return _storage().exists(key)


def size(key: str) -> int:
    return _storage().size(key)
