"""A small adapter over Django's default storage: streamed, hashed writes and
ranged, streamed reads. Nothing else in the project touches boto3 or the disk.

Local storage (FileSystemStorage) and S3 (django-storages) behave the same here;
for S3 a ranged read is one GET with a `Range` header, streamed in chunks.
"""

import contextlib
import hashlib
import logging
import os
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

from django.core.files.storage import storages

from .exceptions import StorageUnavailable

logger = logging.getLogger(__name__)

CHUNK_SIZE = 1024 * 1024


def _storage():
    return storages["default"]


def is_s3() -> bool:
    return hasattr(_storage(), "bucket_name")


PART_SIZE = 8 * 1024 * 1024  # S3 multipart part size; also the most held in memory per part
PARTS_IN_FLIGHT = 4


class ObjectWriter:
    """Push-style writer for one new object: `write(chunk)` as bytes arrive, then
    `close()` → (size, sha256), or `abort()` to leave nothing behind. Memory stays
    bounded: at most PARTS_IN_FLIGHT + 1 parts for S3, one chunk for local files."""

    def __init__(self, key: str):
        self.key = key
        self.size = 0
        self._sha256 = hashlib.sha256()

    def write(self, data: bytes) -> None:
        self.size += len(data)
        self._sha256.update(data)
        self._write(data)

    def close(self) -> tuple[int, str]:
        self._close()
        return self.size, self._sha256.hexdigest()


class LocalObjectWriter(ObjectWriter):
    def __init__(self, key: str):
        super().__init__(key)
        self._path = _storage().path(key)
        os.makedirs(os.path.dirname(self._path), exist_ok=True)
        self._partial = f"{self._path}.partial"
        self._fh = open(self._partial, "xb")

    def _write(self, data: bytes) -> None:
        self._fh.write(data)

    def _close(self) -> None:
        self._fh.close()
        os.replace(self._partial, self._path)  # appears whole or not at all

    def abort(self) -> None:
        self._fh.close()
        for path in (self._partial, self._path):
            with contextlib.suppress(FileNotFoundError):
                os.remove(path)


class S3ObjectWriter(ObjectWriter):
    """S3 multipart upload with a few parts in flight; a small object is one PUT."""

    def __init__(self, key: str):
        super().__init__(key)
        storage = _storage()
        self._client = storage.connection.meta.client
        self._bucket = storage.bucket_name
        self._name = storage._normalize_name(key)
        self._buffer = bytearray()
        self._upload_id = None
        self._parts: list[dict] = []
        self._futures: list[Future] = []
        self._pool: ThreadPoolExecutor | None = None

    def _write(self, data: bytes) -> None:
        self._buffer += data
        while len(self._buffer) >= PART_SIZE:
            with memoryview(self._buffer) as view:  # one copy of the part, not two
                part = bytes(view[:PART_SIZE])
            del self._buffer[:PART_SIZE]
            self._send_part(part)

    def _send_part(self, part: bytes) -> None:
        try:
            if self._upload_id is None:
                self._upload_id = self._client.create_multipart_upload(Bucket=self._bucket, Key=self._name)["UploadId"]
                self._pool = ThreadPoolExecutor(max_workers=PARTS_IN_FLIGHT, thread_name_prefix="s3-part")
            pending = [f for f in self._futures if not f.done()]
            if len(pending) >= PARTS_IN_FLIGHT:  # wait on unfinished parts only, or this spins
                wait(pending, return_when=FIRST_COMPLETED)
            number = len(self._futures) + 1
            self._futures.append(self._pool.submit(self._upload_part, number, part))
        except Exception as exc:
            raise _unavailable(exc, self.key) from exc

    def _upload_part(self, number: int, part: bytes) -> dict:
        answer = self._client.upload_part(Bucket=self._bucket, Key=self._name, UploadId=self._upload_id,
                                          PartNumber=number, Body=part)
        return {"PartNumber": number, "ETag": answer["ETag"]}

    def _close(self) -> None:
        try:
            if self._upload_id is None:
                self._client.put_object(Bucket=self._bucket, Key=self._name, Body=bytes(self._buffer))
                return
            if self._buffer:
                self._send_part(bytes(self._buffer))
                self._buffer = bytearray()
            parts = [future.result() for future in self._futures]
            self._client.complete_multipart_upload(Bucket=self._bucket, Key=self._name, UploadId=self._upload_id,
                                                   MultipartUpload={"Parts": parts})
        except Exception as exc:
            self.abort()
            raise _unavailable(exc, self.key) from exc
        finally:
            if self._pool:
                self._pool.shutdown(wait=False)

    def abort(self) -> None:
        with contextlib.suppress(Exception):
            if self._pool:
                self._pool.shutdown(wait=True, cancel_futures=True)
            if self._upload_id is not None:
                self._client.abort_multipart_upload(Bucket=self._bucket, Key=self._name, UploadId=self._upload_id)
            else:
                self._client.delete_object(Bucket=self._bucket, Key=self._name)


def _unavailable(exc: Exception, key: str) -> Exception:
    if isinstance(exc, StorageUnavailable):
        return exc
    logger.warning("storage write failed for %s: %s", key, exc)
    return StorageUnavailable()


def open_writer(key: str) -> ObjectWriter:
    return S3ObjectWriter(key) if is_s3() else LocalObjectWriter(key)


def put_stream(key: str, stream, *, limit: int | None = None) -> tuple[int, str]:
    """Copy a readable stream to a new object without holding it in memory.
    Returns (size, sha256). Reads at most `limit` bytes when given."""
    writer = open_writer(key)
    try:
        remaining = limit
        while remaining is None or remaining > 0:
            data = stream.read(CHUNK_SIZE if remaining is None else min(CHUNK_SIZE, remaining))
            if not data:
                break
            writer.write(data)
            if remaining is not None:
                remaining -= len(data)
        return writer.close()
    except BaseException:
        writer.abort()
        raise


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
