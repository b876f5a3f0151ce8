"""The configured storage (local files, or SeaweedFS in the S3 run) round-trips bytes."""

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage, storages


def test_default_storage_round_trip(storage_backend):
    name = default_storage.save("probe/hello.bin", ContentFile(b"\x00stratus\xff"))
    try:
        with default_storage.open(name, "rb") as fh:
            assert fh.read() == b"\x00stratus\xff"
        assert default_storage.size(name) == 9
        backend = type(storages["default"]).__module__
        assert ("s3" in backend) == (storage_backend == "s3")
    finally:
        default_storage.delete(name)
    assert not default_storage.exists(name)


@pytest.mark.parametrize("size", [0, 1, 1000, 4096, 10_000])
def test_object_sha256_reads_every_chunk_in_order(storage_backend, monkeypatch, size):
    """An object of many chunks is hashed whole, in order."""
    import hashlib
    import os

    from storage_site.core import storage

    monkeypatch.setattr(storage, "CHUNK_SIZE", 1000)
    monkeypatch.setattr(storage, "READ_BUFFER_SIZE", 1000)  # each of the few buffers reused
    data = os.urandom(size)
    storage.put_bytes("tests/sha-object", data)
    try:
        assert storage.object_sha256("tests/sha-object") == (size, hashlib.sha256(data).hexdigest())
        # Carried on from a hash of the first bytes: the rest is read from there.
        start = size // 3
        assert storage.object_sha256("tests/sha-object", start=start, running=hashlib.sha256(data[:start])) \
            == (size, hashlib.sha256(data).hexdigest())
    finally:
        storage.delete("tests/sha-object")


def test_object_sha256_of_a_missing_object_raises_file_not_found(storage_backend):
    from storage_site.core import storage

    with pytest.raises(FileNotFoundError):
        storage.object_sha256("tests/never-stored")


def test_threads_reaching_s3_together_share_one_client(storage_backend):
    """A fresh gthread worker's threads often touch S3 at once; each opening its own boto3
    session first cost the worker ~30 MiB (the Nextcloud benchmark's first sync)."""
    import threading

    from storage_site.core import storage

    if storage_backend != "s3":
        pytest.skip("the shared client is S3's")
    storage._shared_client = (None, None)
    start, clients = threading.Barrier(8), []

    def touch():
        start.wait()
        clients.append(storage._s3_client())

    threads = [threading.Thread(target=touch) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(clients) == 8 and len({id(client) for client in clients}) == 1


def test_the_shared_s3_client_keeps_only_s3s_rows_of_the_endpoint_table(storage_backend):
    """An S3 client keeps botocore's table of every AWS endpoint alive as long as itself:
    ~7 MiB of Python objects in every web and Celery process (of the client's ~12),
    of which it reads S3's rows only. Its calls still work, size() and delete() included."""
    import gc
    import tracemalloc

    from storage_site.core import storage

    if storage_backend != "s3":
        pytest.skip("the shared client is S3's")
    storage._shared_client = (None, None)
    tracemalloc.start()
    try:
        storage.put_bytes("tests/footprint", b"12345")
        gc.collect()
        held = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert held < 8 * 1024 * 1024, held
    assert storage.size("tests/footprint") == 5
    storage.delete("tests/footprint")
    assert not storage.exists("tests/footprint")
    with pytest.raises(FileNotFoundError):
        storage.size("tests/footprint")


def test_an_s3_verification_read_that_ends_early_fails_as_storage_unavailable(storage_backend, monkeypatch):
    """A verification read whose connection ends before its Content-Length is a failed
    read (503), never the hash of a short file."""
    from storage_site.core import storage
    from storage_site.core.exceptions import StorageUnavailable

    if storage_backend != "s3":
        pytest.skip("an S3 GET's Content-Length")
    storage.put_bytes("tests/short-read", b"x" * 5000)
    real = storage._s3_get

    def promising_more(*args):
        response = real(*args)
        response["ContentLength"] += 10  # the body now ends 10 bytes before it said it would
        return response

    monkeypatch.setattr(storage, "_s3_get", promising_more)
    try:
        with pytest.raises(StorageUnavailable):
            storage.object_sha256("tests/short-read")
    finally:
        storage.delete("tests/short-read")


def test_a_part_sent_with_its_sha256_is_checked_by_the_store(storage_backend, tmp_path):
    """A chunk goes to S3 with the SHA-256 the engine recorded for it: S3 refuses bytes
    that do not match (the part is not kept), and joins the ones that do."""
    import hashlib
    import os

    from storage_site.core import storage
    from storage_site.core.exceptions import StorageUnavailable

    if storage_backend != "s3":
        pytest.skip("multipart parts are S3's")
    data = os.urandom(storage.MIN_PART_SIZE + 1000)
    spooled = tmp_path / "part"
    spooled.write_bytes(data)
    key = "tests/checked-part"
    upload_id = storage.multipart_create(key)
    try:
        with open(spooled, "rb") as part, pytest.raises(StorageUnavailable):
            storage.multipart_put_part(key, upload_id, 1, part, sha256=hashlib.sha256(b"other").hexdigest())
        assert storage.multipart_parts(key, upload_id) == []
        with open(spooled, "rb") as part:
            etag = storage.multipart_put_part(key, upload_id, 1, part, sha256=hashlib.sha256(data).hexdigest())
        storage.multipart_complete(key, upload_id, [(1, etag)])
        assert storage.object_sha256(key) == (len(data), hashlib.sha256(data).hexdigest())
    finally:
        storage.multipart_abort(key, upload_id)  # no-op once completed
        storage.delete(key)
