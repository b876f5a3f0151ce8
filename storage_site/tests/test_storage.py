"""The configured storage (local files, or SeaweedFS in the S3 run) round-trips bytes."""

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
