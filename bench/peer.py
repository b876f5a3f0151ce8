"""copyparty, a popular self-hosted Python file server, as a peer in the same run:
it serves a local folder; a file is sent to it by PUT and fetched back by GET, the
same bytes Stratus receives and sends on local storage."""

import hashlib
import sys
import time
from pathlib import Path

import requests

MIB = 1024 * 1024


def copyparty_args(port: int, folder: Path) -> list[str]:
    # One read-write volume for everyone; no thumbnails, no indexing: a plain file server.
    return [sys.executable, "-m", "copyparty", "-q", "-p", str(port), "-v", f"{folder}::rw", "--no-thumb"]


def copyparty_put(url: str, src: Path, name: str) -> dict:
    started = time.perf_counter()
    with open(src, "rb") as fh, requests.Session() as session:
        response = session.put(f"{url}/{name}", data=fh, timeout=(5, 600))
    seconds = time.perf_counter() - started
    if response.status_code not in (200, 201):
        raise RuntimeError(f"copyparty PUT answered {response.status_code}: {response.text[:300]}")
    return {"seconds": round(seconds, 3), "mib_s": round(src.stat().st_size / MIB / seconds, 1)}


def copyparty_get(url: str, name: str, size: int, sha: str) -> dict:
    digest, received = hashlib.sha256(), 0
    started = time.perf_counter()
    with requests.Session() as session, session.get(f"{url}/{name}", stream=True, timeout=(5, 600)) as response:
        if response.status_code != 200:
            raise RuntimeError(f"copyparty GET answered {response.status_code}")
        for chunk in response.iter_content(MIB):
            digest.update(chunk)
            received += len(chunk)
    seconds = time.perf_counter() - started
    return {"seconds": round(seconds, 3), "mib_s": round(size / MIB / seconds, 1),
            "sha256_ok": digest.hexdigest() == sha and received == size}
