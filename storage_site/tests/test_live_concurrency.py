"""Concurrent writers against a real server process (gunicorn, 2 workers × 4 threads) on
this run's configuration: on the embedded default a SQLite file, as `make run` has it. A
deferred SQLite transaction that reads and then writes failed at once with "database is
locked" (a 503) when another writer held the lock; WAL, IMMEDIATE transactions and the busy
timeout (settings.DATABASES) make writers wait their turn instead."""

from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from storage_site.testing.server import LiveServer


@pytest.fixture
def server(transactional_db, tmp_path):
    with LiveServer(tmp_path / "server", workers=2, threads=4) as live:
        yield live


def test_parallel_uploads_and_writes_get_no_server_error(server):
    token = server.sign_in("racer@example.com")
    auth = {"Authorization": f"Bearer {token}"}

    def upload(n: int) -> int:
        files = {"file": (f"file-{n}.bin", bytes([n]) * 65536, "application/octet-stream")}
        return requests.post(server.url + "/api/files/upload", files=files, headers=auth, timeout=120).status_code

    def folder(n: int) -> int:
        return requests.post(server.url + "/api/folders/create", json={"name": f"folder-{n}"}, headers=auth,
                             timeout=120).status_code

    def device(n: int) -> int:
        return requests.post(server.url + "/api/devices/register", json={"deviceId": f"device-{n}"}, headers=auth,
                             timeout=120).status_code

    jobs = [(upload, n) for n in range(20)] + [(folder, n) for n in range(8)] + [(device, n) for n in range(2)]
    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        statuses = list(pool.map(lambda job: job[0](job[1]), jobs))
    assert statuses[:20] == [201] * 20, (statuses, server.log()[-3000:])
    assert statuses[20:28] == [201] * 8, statuses
    assert all(status in (200, 201) for status in statuses[28:]), statuses
    listed = requests.get(server.url + "/api/files/list", params={"pageSize": 100}, headers=auth, timeout=60).json()
    assert sorted(item["name"] for item in listed["data"]["items"]) == sorted(f"file-{n}.bin" for n in range(20))
    usage = requests.get(server.url + "/api/user/storage-stats", headers=auth, timeout=60).json()["data"]
    assert usage["used"] == 20 * 65536 and usage["reserved"] == 0, usage
