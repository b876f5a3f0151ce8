"""A limited share link under real parallelism: twenty `Range: bytes=1-` requests sent
at once to gunicorn (two processes, many threads) on a limit-1 link. Slices without
byte 0 used to be free; now every answer is charged in one conditional UPDATE, so one
is served and the others get 410."""

import os
import threading

import requests

from storage_site.testing.server import gunicorn_factory  # noqa: F401  (fixture)


def test_twenty_parallel_slices_of_a_limit_one_link_serve_one(gunicorn_factory):  # noqa: F811
    server = gunicorn_factory(workers=2, threads=10)
    owner = server.sign_up("owner")
    data = os.urandom(300_000)
    resp = owner.post(f"{server.url}/api/files/upload", files={"file": ("f.bin", data)}, timeout=60)
    assert resp.status_code == 201, resp.text
    file_id = resp.json()["data"]["id"]
    resp = owner.post(f"{server.url}/api/files/{file_id}/share", json={"maxDownloads": 1}, timeout=60)
    url = f"{server.url}/api/public/shares/{resp.json()['data']['token']}/download"

    start = threading.Barrier(20)
    answers = []

    def attempt():
        with requests.Session() as http:
            http.get(f"{server.url}/healthz", timeout=60)  # connected before the barrier
            start.wait(timeout=60)
            resp = http.get(url, headers={"Range": "bytes=1-"}, timeout=120)
            answers.append((resp.status_code, resp.content))

    threads = [threading.Thread(target=attempt) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=180)

    assert sorted(status for status, _ in answers) == [206] + [410] * 19
    assert [body for status, body in answers if status == 206] == [data[1:]]
    # The one byte never served is all that is left.
    assert requests.get(url, headers={"Range": "bytes=0-0"}, timeout=60).content == data[:1]
    assert requests.get(url, headers={"Range": "bytes=0-0"}, timeout=60).status_code == 410
    # The other user reaches none of it: the owner's share list is theirs alone.
    stranger = server.sign_up("stranger")
    assert stranger.get(f"{server.url}/api/files/{file_id}/share", timeout=60).status_code == 404
