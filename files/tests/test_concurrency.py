"""Racing uploads for the last bytes of a quota: usage never passes it and matches what is stored."""

from concurrent.futures import ThreadPoolExecutor

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection

from accounts.models import User
from folders.models import Node


@pytest.mark.skipif(connection.vendor == "sqlite", reason="in-memory shared-cache SQLite locks whole tables with "
                    "no busy timeout; the race runs on PostgreSQL in CI")
@pytest.mark.django_db(transaction=True)
def test_parallel_uploads_never_exceed_the_quota(user, client_for):
    User.objects.filter(pk=user.pk).update(storage_quota=1000)

    def one(n):
        client = client_for(user)
        try:
            data = bytes([n]) * 100
            resp = client.post("/api/files/upload", {"file": SimpleUploadedFile(f"f{n}.bin", data)},
                               format="multipart")
            return resp.status_code
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(one, range(20)))
    assert sorted(set(statuses)) == [201, 413]
    assert statuses.count(201) == 10
    fresh = User.objects.get(pk=user.pk)
    assert fresh.storage_used == 1000 and fresh.storage_reserved == 0
    stored = sum(Node.objects.filter(owner=user, kind="file").values_list("size", flat=True))
    assert stored == fresh.storage_used
