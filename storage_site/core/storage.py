"""A small adapter over Django's default storage: streamed, hashed writes and
ranged, streamed reads. Nothing else in the project touches boto3 or the disk.

Local storage (FileSystemStorage) and S3 (django-storages) behave the same here;
for S3 a ranged read is one GET with a `Range` header, streamed in chunks.
"""

import base64
import contextlib
import hashlib
import http.client
import logging
import os
import queue
import ssl
import tempfile
import threading
from collections.abc import Iterator
from datetime import datetime
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import BinaryIO
from urllib.parse import urlsplit

from django.conf import settings
from django.core.files.storage import storages

from .exceptions import StorageUnavailable

logger = logging.getLogger(__name__)

CHUNK_SIZE = 1024 * 1024


def _storage():
    return storages["default"]


def is_s3() -> bool:
    return hasattr(_storage(), "bucket_name")


_shared_client: tuple = (None, None)  # (storage backend, its boto3 client)
# Threads that reach S3 together in a fresh worker would each open their own session first.
_shared_client_lock = threading.Lock()


def _s3_client():
    """One boto3 client per process, for every thread (boto3 clients are thread-safe).
    django-storages opens a boto3 session per thread, about 10 MiB each: a gthread
    worker grew by ~40 MiB once its threads had all touched S3."""
    global _shared_client
    storage = _storage()
    owner, client = _shared_client
    if owner is not storage:  # first use, or another backend (tests change STORAGES)
        with _shared_client_lock:
            owner, client = _shared_client
            if owner is not storage:
                client = _new_s3_client(storage)
                _shared_client = (storage, client)
    return client


def _new_s3_client(storage):
    """The client django-storages would make (its credentials, region, endpoint and client
    settings), on a botocore session whose loader keeps only S3's rows of botocore's table
    of every AWS endpoint (endpoints.json). An S3 client holds that table for its whole life
    (one of its event handlers keeps its creator, which keeps the table) and reads only
    S3's rows; the whole table is ~7 MiB of Python objects in every web and Celery process."""
    import boto3  # here: a server on local storage never loads boto3
    import botocore.session
    from botocore.loaders import JSONFileLoader, create_loader

    class S3EndpointsOnly(JSONFileLoader):
        def load_file(self, file_path):
            data = super().load_file(file_path)
            if data and os.path.basename(file_path) == "endpoints":
                data["partitions"] = [{**partition, "services": {
                    name: rows for name, rows in partition.get("services", {}).items() if name == "s3"}}
                    for partition in data["partitions"]]
            return data

    core = botocore.session.Session()
    loader = create_loader(core.get_config_variable("data_path"))
    loader.file_loader = S3EndpointsOnly()
    core.register_component("data_loader", loader)
    if storage.session_profile:
        session = boto3.Session(botocore_session=core, profile_name=storage.session_profile)
    else:
        session = boto3.Session(botocore_session=core, aws_access_key_id=storage.access_key,
                                aws_secret_access_key=storage.secret_key, aws_session_token=storage.security_token)
    return session.client("s3", region_name=storage.region_name, use_ssl=storage.use_ssl,
                          endpoint_url=storage.endpoint_url, config=storage.client_config, verify=storage.verify)


PART_SIZE = 8 * 1024 * 1024  # S3 multipart part size; also the most held in memory per part
# Parts an S3 writer sends at once: more did not send faster to SeaweedFS on 2 cores
# (the store is CPU-bound); one alone halved the upload rate.
WRITER_PARTS_IN_FLIGHT = 2
MAX_PARTS = 10_000  # S3's limit for one multipart upload


# A chunk at least this large is hashed on another thread while it is written: hashing
# and writing both release the GIL, so a big upload's hash costs no time of its own
# when a core is free (a 1 GiB upload spent a fifth of its time hashing).
PARALLEL_HASH_MIN = 256 * 1024
_hashers: ThreadPoolExecutor | None = None
_hashers_lock = threading.Lock()


def _hasher() -> ThreadPoolExecutor:
    """The process's hashing threads (made on first use: after a server's fork)."""
    global _hashers
    if _hashers is None:
        with _hashers_lock:
            if _hashers is None:
                _hashers = ThreadPoolExecutor(max_workers=4, thread_name_prefix="sha256")
    return _hashers


class ObjectWriter:
    """Push-style writer for one new object: `write(chunk)` as bytes arrive, then
    `close()` → (size, sha256), or `abort()` to leave nothing behind. Memory stays
    bounded: about one chunk (S3 parts wait in temporary files, at most
    WRITER_PARTS_IN_FLIGHT + 1 of them)."""

    def __init__(self, key: str):
        self.key = key
        self.size = 0
        self._sha256 = hashlib.sha256()

    def write(self, data: bytes) -> None:
        self.size += len(data)
        if len(data) < PARALLEL_HASH_MIN:
            self._sha256.update(data)
            self._write(data)
            return
        hashed = _hasher().submit(self._sha256.update, data)  # in order: one chunk at a time
        try:
            self._write(data)
        finally:
            hashed.result()

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
        try:
            self._fh.write(data)
        except OSError as exc:  # disk full, I/O error: the server's fault, try again later
            raise _unavailable(exc, self.key) from exc

    def _close(self) -> None:
        try:
            self._fh.close()
            os.replace(self._partial, self._path)  # appears whole or not at all
        except OSError as exc:
            raise _unavailable(exc, self.key) from exc

    def abort(self) -> None:
        self._fh.close()
        for path in (self._partial, self._path):
            with contextlib.suppress(FileNotFoundError):
                os.remove(path)


class S3ObjectWriter(ObjectWriter):
    """S3 multipart upload with a few parts in flight; a small object is one PUT.

    Each part is spooled to a temporary file (FILE_UPLOAD_TEMP_DIR) and sent from there:
    the parts in flight are the kernel's page cache, which it can write out under
    pressure, not the worker's memory (3 parts of 5 MiB pushed a gunicorn worker past
    150 MiB). At most WRITER_PARTS_IN_FLIGHT + 1 files, each reused once its part is
    sent; the first megabyte stays in memory, so a small object never touches the disk."""

    def __init__(self, key: str, *, part_size: int = PART_SIZE):
        super().__init__(key)
        self.part_size = part_size
        storage = _storage()
        self._client = _s3_client()
        self._bucket = storage.bucket_name
        self._name = storage._normalize_name(key)
        self._part = spool_file()  # the part being filled
        self._filled = 0
        self._upload_id = None
        self._futures: list[Future] = []
        self._sending: dict[Future, BinaryIO] = {}  # files of the parts in flight
        self._pool: ThreadPoolExecutor | None = None

    def _write(self, data: bytes) -> None:
        with memoryview(data) as view:
            while view:
                take = min(len(view), self.part_size - self._filled)
                spool_write(self._part, view[:take])
                self._filled += take
                view = view[take:]
                if self._filled == self.part_size:
                    self._send_part(self._part)
                    self._part, self._filled = self._free_file(), 0

    def _send_part(self, part: BinaryIO) -> None:
        try:
            if self._upload_id is None:
                self._upload_id = self._client.create_multipart_upload(Bucket=self._bucket, Key=self._name)["UploadId"]
                self._pool = ThreadPoolExecutor(max_workers=WRITER_PARTS_IN_FLIGHT, thread_name_prefix="s3-part")
            part.truncate()
            part.seek(0)
            number = len(self._futures) + 1
            future = self._pool.submit(self._upload_part, number, part)
            self._futures.append(future)
            self._sending[future] = part
        except Exception as exc:
            raise _unavailable(exc, self.key) from exc

    def _free_file(self) -> BinaryIO:
        """A file for the next part: a new one while fewer than WRITER_PARTS_IN_FLIGHT
        are in flight, else the file of the first part to finish (a failed part fails
        here)."""
        if len(self._sending) < WRITER_PARTS_IN_FLIGHT:
            return spool_file()
        done, _ = wait(self._sending, return_when=FIRST_COMPLETED)
        future = next(iter(done))
        try:
            future.result()
        except Exception as exc:
            raise _unavailable(exc, self.key) from exc
        part = self._sending.pop(future)
        part.seek(0)
        return part

    def _close_files(self) -> None:
        for part in (self._part, *self._sending.values()):
            part.close()
        self._sending.clear()

    def _upload_part(self, number: int, part: BinaryIO) -> dict:
        answer = self._client.upload_part(Bucket=self._bucket, Key=self._name, UploadId=self._upload_id,
                                          PartNumber=number, Body=part)
        return {"PartNumber": number, "ETag": answer["ETag"]}

    def _close(self) -> None:
        try:
            if self._upload_id is None:
                self._part.truncate()
                self._part.seek(0)
                self._client.put_object(Bucket=self._bucket, Key=self._name, Body=self._part)
                return
            if self._filled:
                self._send_part(self._part)
            parts = [future.result() for future in self._futures]
            self._client.complete_multipart_upload(Bucket=self._bucket, Key=self._name, UploadId=self._upload_id,
                                                   MultipartUpload={"Parts": parts})
        except Exception as exc:
            self.abort()
            raise _unavailable(exc, self.key) from exc
        finally:
            if self._pool:
                self._pool.shutdown(wait=False)
            self._close_files()

    def abort(self) -> None:
        with contextlib.suppress(Exception):
            if self._pool:
                self._pool.shutdown(wait=True, cancel_futures=True)
            if self._upload_id is not None:
                self._client.abort_multipart_upload(Bucket=self._bucket, Key=self._name, UploadId=self._upload_id)
            else:
                self._client.delete_object(Bucket=self._bucket, Key=self._name)
        self._close_files()


def spool_file() -> BinaryIO:
    """A temporary file for bytes on their way to storage (FILE_UPLOAD_TEMP_DIR): the
    first chunk stays in memory, so a small body never touches the disk."""
    return tempfile.SpooledTemporaryFile(max_size=CHUNK_SIZE, dir=settings.FILE_UPLOAD_TEMP_DIR)


def spool_write(spool: BinaryIO, data) -> None:
    """Write to a spool file; a full temporary disk is the server's fault, and the client
    may try again later (503), with nothing acknowledged."""
    try:
        spool.write(data)
    except OSError as exc:
        logger.warning("the temporary disk refused a write: %s", exc)
        raise StorageUnavailable() from exc


def _unavailable(exc: Exception, key: str) -> Exception:
    if isinstance(exc, StorageUnavailable):
        return exc
    logger.warning("storage write failed for %s: %s", key, exc)
    return StorageUnavailable()


def open_writer(key: str, *, size_hint: int | None = None) -> ObjectWriter:
    """A writer for a new object. Given about how many bytes will come (`size_hint`), an
    S3 writer uses the smallest parts that fit S3's part limit (5 MiB up to ~48 GiB):
    a streamed upload then spools 15 MiB of parts instead of 24."""
    if not is_s3():
        return LocalObjectWriter(key)
    if size_hint is None:
        return S3ObjectWriter(key)
    return S3ObjectWriter(key, part_size=max(MIN_PART_SIZE, -(-size_hint // MAX_PARTS)))


def put_stream(key: str, stream, *, limit: int | None = None) -> tuple[int, str]:
    """Copy a readable stream to a new object without holding it in memory.
    Returns (size, sha256). Reads at most `limit` bytes when given."""
    writer = open_writer(key, size_hint=limit)
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


class LocalRange:
    """Bytes `start`..`end` (inclusive) of a local file as a readable file. It keeps the
    file's descriptor (`fileno`) at `start`, so gunicorn sends it with sendfile(2), as
    many bytes as the response's Content-Length; any other server reads it in blocks
    that stop at `end`."""

    def __init__(self, path: str, start: int, end: int):
        self._fh = open(path, "rb", buffering=0)  # unbuffered: the descriptor is where reading is
        self._fh.seek(start)
        self._remaining = end - start + 1

    def fileno(self) -> int:
        return self._fh.fileno()

    def read(self, size: int = -1) -> bytes:
        size = self._remaining if size is None or size < 0 else min(size, self._remaining)
        data = self._fh.read(size) if size else b""
        self._remaining -= len(data)
        return data

    def close(self) -> None:
        self._fh.close()


def open_local_range(key: str, start: int, end: int) -> LocalRange | None:
    """Bytes `start`..`end` of an object as a file the server can send without copying
    it through Python, or None when storage is S3 (use `read_range`)."""
    return None if is_s3() else LocalRange(_storage().path(key), start, end)


def _s3_get(storage, key, start, end) -> dict:
    client = _s3_client()
    params = {"Bucket": storage.bucket_name, "Key": storage._normalize_name(key)}
    if start or end is not None:
        params["Range"] = f"bytes={start}-{'' if end is None else end}"
    try:
        return client.get_object(**params)
    except client.exceptions.NoSuchKey:  # as on local storage: the object is gone, S3 is fine
        raise FileNotFoundError(key) from None
    except Exception as exc:
        logger.warning("S3 read failed for %s: %s", key, exc)
        raise StorageUnavailable() from exc


def _s3_range(storage, key, start, end):
    body = _s3_get(storage, key, start, end)["Body"]
    try:
        yield from body.iter_chunks(CHUNK_SIZE)
    finally:
        body.close()


def reachable() -> None:
    """Raise unless the storage can be used: a HEAD on the S3 bucket (fails when the
    endpoint is down or the bucket is missing), or a writable media folder."""
    backend = _storage()
    if is_s3():
        _s3_client().head_bucket(Bucket=backend.bucket_name)
        return
    location = Path(backend.location)
    # A fresh install creates the folder on the first write, inside an existing one.
    target = location if location.exists() else location.parent
    if not target.is_dir() or not os.access(target, os.W_OK):
        raise OSError(f"{target} is not a writable folder")


def local_path(key: str) -> str | None:
    """The file's path when storage is local (lets the server use sendfile)."""
    return None if is_s3() else _storage().path(key)


def delete(key: str) -> None:
    try:
        if is_s3():  # through the shared client: django-storages' delete() opens a session of its own
            client, bucket, name = _s3()
            client.delete_object(Bucket=bucket, Key=name(key))
        else:
            _storage().delete(key)
    except Exception:  # deleting is best effort; the reconciler collects leftovers
        logger.warning("could not delete %s", key, exc_info=True)


# An object this large is deleted on a thread of the process instead of in the request:
# freeing a freshly written 1 GiB file (an upload of content stored before, dropped at its
# commit) took about 0.5 s, which the client need not wait for. As best effort as
# `delete`: one a stopped process never got to is an orphan `gc_blobs` collects.
DELETE_APART_MIN = 128 * 1024 * 1024
_deleters: ThreadPoolExecutor | None = None
_deleters_lock = threading.Lock()


def delete_soon(key: str, *, size: int) -> None:
    global _deleters
    if size < DELETE_APART_MIN:
        delete(key)
        return
    with _deleters_lock:
        if _deleters is None:  # made on first use: after a server's fork
            _deleters = ThreadPoolExecutor(max_workers=1, thread_name_prefix="delete")
    _deleters.submit(delete, key)


def exists(key: str) -> bool:
    if not is_s3():
        return _storage().exists(key)
    # Through the shared client: django-storages' exists() opens a session per thread.
    client, bucket, name = _s3()
    try:
        client.head_object(Bucket=bucket, Key=name(key))
    except client.exceptions.ClientError as exc:
        if exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") == 404:
            return False
        raise
    return True


def size(key: str) -> int:
    if not is_s3():
        return _storage().size(key)
    client, bucket, name = _s3()  # the shared client, as exists()
    try:
        return client.head_object(Bucket=bucket, Key=name(key))["ContentLength"]
    except client.exceptions.ClientError as exc:
        if exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") == 404:
            raise FileNotFoundError(key) from exc
        raise


# --- multipart uploads that outlive a request (the chunked-upload engine) -----------

MIN_PART_SIZE = 5 * 1024 * 1024  # S3's smallest part, except the last


def _s3():
    storage = _storage()
    return _s3_client(), storage.bucket_name, storage._normalize_name


def _s3_call(what: str, key: str, call):
    try:
        return call()
    except StorageUnavailable:
        raise
    except Exception as exc:
        logger.warning("S3 %s failed for %s: %s", what, key, exc)
        raise StorageUnavailable() from exc


def multipart_create(key: str) -> str:
    client, bucket, name = _s3()
    return _s3_call("create_multipart_upload", key,
                    lambda: client.create_multipart_upload(Bucket=bucket, Key=name(key))["UploadId"])


def multipart_put_part(key: str, upload_id: str, number: int, data, *, sha256: str = "") -> str:
    """Send one part (bytes, or a file at its start) of a multipart upload; returns its
    ETag. Given the part's `sha256` (hex), S3 checks the bytes against it (400 BadDigest
    otherwise), in place of the CRC32 botocore would read the whole part again for."""
    client, bucket, name = _s3()
    checksum = {"ChecksumSHA256": base64.b64encode(bytes.fromhex(sha256)).decode()} if sha256 else {}
    return _s3_call("upload_part", key, lambda: client.upload_part(
        Bucket=bucket, Key=name(key), UploadId=upload_id, PartNumber=number, Body=data, **checksum)["ETag"])


def multipart_copy_part(key: str, upload_id: str, number: int, source_key: str) -> str:
    """Make an existing object part `number` of a multipart upload, inside S3."""
    client, bucket, name = _s3()
    return _s3_call("upload_part_copy", key, lambda: client.upload_part_copy(
        Bucket=bucket, Key=name(key), UploadId=upload_id, PartNumber=number,
        CopySource={"Bucket": bucket, "Key": name(source_key)})["CopyPartResult"]["ETag"])


def multipart_parts(key: str, upload_id: str) -> list[dict]:
    """What S3 holds of a multipart upload: [{"number", "size", "etag", "modified"}].
    A part sent twice may be listed twice (SeaweedFS does, in no particular order)."""
    client, bucket, name = _s3()
    held, marker = [], 0
    while True:
        page = _s3_call("list_parts", key, lambda: client.list_parts(
            Bucket=bucket, Key=name(key), UploadId=upload_id, PartNumberMarker=marker))
        held += [{"number": part["PartNumber"], "size": part["Size"], "etag": part["ETag"],
                  "modified": part["LastModified"]} for part in page.get("Parts", [])]
        if not page.get("IsTruncated"):
            return held
        marker = page["NextPartNumberMarker"]


def multipart_complete(key: str, upload_id: str, parts: list[tuple[int, str]]) -> None:
    client, bucket, name = _s3()
    _s3_call("complete_multipart_upload", key, lambda: client.complete_multipart_upload(
        Bucket=bucket, Key=name(key), UploadId=upload_id,
        MultipartUpload={"Parts": [{"PartNumber": number, "ETag": etag} for number, etag in parts]}))


def multipart_abort(key: str, upload_id: str) -> None:
    client, bucket, name = _s3()
    try:
        client.abort_multipart_upload(Bucket=bucket, Key=name(key), UploadId=upload_id)
    except Exception:  # already completed or aborted; the reconciler sees leftovers
        logger.info("could not abort multipart upload %s of %s", upload_id, key, exc_info=True)


def multipart_uploads(prefix: str) -> Iterator[tuple[str, str, datetime]]:
    """Multipart uploads S3 holds open under `prefix`: (key, upload id, initiated)."""
    client, bucket, name = _s3()
    full = name(prefix.rstrip("/")) + "/"
    location = len(full) - len(prefix.rstrip("/")) - 1  # AWS_LOCATION, if any, is not in our keys
    marker = {}
    while True:
        page = _s3_call("list_multipart_uploads", prefix, lambda: client.list_multipart_uploads(
            Bucket=bucket, Prefix=full, **marker))
        for upload in page.get("Uploads", []):
            yield upload["Key"][location:], upload["UploadId"], upload["Initiated"]
        if not page.get("IsTruncated"):
            return
        marker = {"KeyMarker": page["NextKeyMarker"], "UploadIdMarker": page["NextUploadIdMarker"]}


def presigned_part_url(key: str, upload_id: str, number: int, expires_in: int) -> str:
    """A URL the client can PUT one part to, straight to S3."""
    client, bucket, name = _s3()
    return client.generate_presigned_url("upload_part", ExpiresIn=expires_in, Params={
        "Bucket": bucket, "Key": name(key), "UploadId": upload_id, "PartNumber": number})


MAX_PART_SIZE = 5 * 1024 ** 3  # S3's largest part
# How long a part's presigned URL is good for: S3 checks it when the request starts.
PART_STREAM_URL_SECONDS = 3600
PART_STREAM_TIMEOUT = 120  # seconds S3 may stall a send or its answer


class PartStream:
    """One part of a multipart upload sent while its bytes arrive: `write(data)` as they
    come, `close()` → the part's ETag once exactly `length` bytes went, or `abort()`.

    botocore over plain http signs a body's SHA-256, so it must hold the whole part (on
    the temporary disk) and read it twice before the first byte leaves; receiving and
    sending then never overlap. Here the part is a PUT to its presigned URL (the payload
    unsigned, as a client's direct part), its Content-Length announced, its body written
    as it is read. A body that ends early is a request S3 drops: nothing of it is kept
    (the part number stays free; the multipart upload's abort clears any part anyway)."""

    def __init__(self, key: str, upload_id: str, number: int, length: int):
        self.key, self.remaining = key, length
        url = urlsplit(presigned_part_url(key, upload_id, number, PART_STREAM_URL_SECONDS))
        if url.scheme == "https":
            verify = getattr(_storage(), "verify", None)
            context = ssl.create_default_context(cafile=verify if isinstance(verify, str) else None)
            if verify is False:
                context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
            self._conn = http.client.HTTPSConnection(url.hostname, url.port, timeout=PART_STREAM_TIMEOUT,
                                                     context=context)
        else:
            self._conn = http.client.HTTPConnection(url.hostname, url.port, timeout=PART_STREAM_TIMEOUT)
        try:
            self._conn.putrequest("PUT", f"{url.path}?{url.query}", skip_accept_encoding=True)
            self._conn.putheader("Content-Length", str(length))
            self._conn.endheaders()
        except Exception as exc:
            self._conn.close()
            raise _unavailable(exc, key) from exc

    def write(self, data) -> None:
        if len(data) > self.remaining:
            self.abort()
            raise ValueError("more bytes than the part's length")
        try:
            self._conn.send(data)
        except Exception as exc:
            self.abort()
            raise _unavailable(exc, self.key) from exc
        self.remaining -= len(data)

    def close(self) -> str:
        if self.remaining:
            self.abort()
            raise ValueError(f"the part is {self.remaining} bytes short")
        try:
            response = self._conn.getresponse()
            answer = response.read(64 * 1024)  # an error's XML; a part's answer is empty
            if response.status != 200 or not response.getheader("ETag"):
                raise OSError(f"UploadPart answered {response.status}: {answer[:300]!r}")
            return response.getheader("ETag")
        except Exception as exc:
            raise _unavailable(exc, self.key) from exc
        finally:
            self._conn.close()

    def abort(self) -> None:
        """Drop the connection mid-body: S3 keeps nothing of the part."""
        self._conn.close()


def object_sha256(key: str, *, start: int = 0, running=None) -> tuple[int, str]:
    """Read an object once, streamed: (size, SHA-256). `running` is the hash of its first
    `start` bytes (hashlib's or a resumable one), carried on from there.

    A thread reads (one GET stream) into two reused buffers while this one hashes; both
    wait outside the GIL, so the hash alone sets the pace. Measured on 1 GiB of SeaweedFS
    against hashing each chunk as it was read: less CPU (no bytes object per chunk) and a
    faster read; ranged GETs in parallel cost more CPU (a request per piece), held a piece
    per GET, and read no faster."""
    digest = running or hashlib.sha256()
    size = start
    for view in read_buffered(key, start):
        digest.update(view)
        size += len(view)
    return size, digest.hexdigest()


READ_BUFFER_SIZE = 4 * 1024 * 1024  # 1 or 2 MiB buffers cost more CPU per GiB than 4 MiB ones
# One filled while the other is used: a third or fourth read no faster, and a gunicorn worker
# that verifies a direct upload in the request has ~15 MiB to spare under 150 MiB.
READ_BUFFERS = 2


def read_buffered(key: str, start: int = 0) -> Iterator[memoryview]:
    """The bytes of an object from `start` on, as views of READ_BUFFERS reused buffers
    that a thread of its own fills while the caller works on the one before: reading and
    (say) hashing overlap. A view is valid until the next one is asked for. A missing
    object raises FileNotFoundError at once; a read that fails, where it failed."""
    source = _open_readable(key, start)
    free, full = queue.Queue(), queue.Queue()
    for _ in range(READ_BUFFERS):
        free.put(bytearray(READ_BUFFER_SIZE))
    stop = threading.Event()

    def fill() -> None:
        try:
            while (buffer := free.get()) is not None and not stop.is_set():
                count = source.readinto(buffer)
                full.put((buffer, count))
                if not count:
                    return
        except BaseException as exc:  # raised to the caller, in order
            full.put(exc)
        finally:
            source.close()

    threading.Thread(target=fill, name=f"read-{key}", daemon=True).start()
    try:
        while True:
            item = full.get()
            if isinstance(item, BaseException):
                raise item
            buffer, count = item
            if not count:
                return
            yield memoryview(buffer)[:count]
            free.put(buffer)
    finally:
        stop.set()
        free.put(None)  # wakes the thread if it waits for a buffer


class _S3Readable:
    """An S3 GET's body as `readinto`, straight from http.client's response under
    urllib3's (urllib3's own `readinto` reads a new bytes object and copies it), checked
    against the Content-Length: a connection that ends early raises StorageUnavailable,
    never a short file."""

    def __init__(self, body, length: int):
        raw = body._raw_stream
        self._readinto = getattr(getattr(raw, "_fp", None), "readinto", None) or raw.readinto
        self._body, self._remaining = body, length

    def readinto(self, buffer) -> int:
        try:
            count = self._readinto(buffer)
        except OSError as exc:  # a timeout, a reset: S3 went away mid-read
            logger.warning("S3 read failed: %s", exc)
            raise StorageUnavailable() from exc
        self._remaining -= count
        if not count and self._remaining:
            logger.warning("S3 read ended %s bytes early", self._remaining)
            raise StorageUnavailable()
        return count

    def close(self) -> None:
        self._body.close()


def _open_readable(key: str, start: int):
    storage = _storage()
    if not is_s3():
        fh = open(storage.path(key), "rb", buffering=0)
        fh.seek(start)
        return fh
    response = _s3_get(storage, key, start, None)
    return _S3Readable(response["Body"], response["ContentLength"])


def put_bytes(key: str, data) -> None:
    """Store a small object (at most one part): bytes, or a file at its start."""
    if is_s3():
        client, bucket, name = _s3()
        _s3_call("put_object", key, lambda: client.put_object(Bucket=bucket, Key=name(key), Body=data))
        return
    writer = LocalObjectWriter(key)
    try:
        if hasattr(data, "read"):
            while chunk := data.read(CHUNK_SIZE):
                writer.write(chunk)
        else:
            writer.write(data)
        writer.close()
    except BaseException:
        writer.abort()
        raise
