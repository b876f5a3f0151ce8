"""Client side of the uploads the benchmark sends (bench/run/): request bodies
streamed from disk, the StreamVault chunk endpoints (every byte through the
server) and MegaVault's presigned part URLs (every byte straight to S3).

Nothing here builds a file, or even a whole chunk, in memory: each body is read
from disk in 1 MiB pieces while it is sent, with an exact `Content-Length`.
"""

import hashlib
import math
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

MIB = 1024 * 1024
POLL_SECONDS = 0.2  # between two `complete` calls while a worker assembles


class NotAvailable(Exception):
    """The endpoint under test is not there (yet): the figure says so and the run goes on."""


class MultipartFile:
    """A multipart/form-data body streamed from disk: fixed boundary, exact length.

    requests sees `__len__` and sends `Content-Length` (no chunked encoding); urllib3
    iterates it, so at most one 1 MiB chunk is in memory. `offset` and `length`
    send a slice of the file (one chunk of a chunked upload). Records when the last
    byte left the client (the server has then received all but a socket buffer)."""

    def __init__(self, path: Path, *, filename: str, fields: dict, chunk: int = MIB, offset: int = 0,
                 length: int | None = None):
        self.path, self.chunk, self.offset = path, chunk, offset
        self.boundary = "----stratus-bench-" + hashlib.sha256(str(path).encode()).hexdigest()[:24]
        head = b""
        for name, value in fields.items():
            head += (f"--{self.boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n"
                     f"{value}\r\n").encode()
        head += (f"--{self.boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\n"
                 "Content-Type: application/octet-stream\r\n\r\n").encode()
        self.head, self.tail = head, f"\r\n--{self.boundary}--\r\n".encode()
        self.size = path.stat().st_size - offset if length is None else length
        self.started = self.body_sent = None

    @property
    def content_type(self) -> str:
        return f"multipart/form-data; boundary={self.boundary}"

    def __len__(self) -> int:
        return len(self.head) + self.size + len(self.tail)

    def __iter__(self):
        self.started = time.perf_counter()
        yield self.head
        yield from _read_slice(self.path, self.offset, self.size, self.chunk)
        yield self.tail
        self.body_sent = time.perf_counter()


class FileSlice:
    """`length` bytes of a file from `offset`, as a raw request body (a PUT to S3)."""

    def __init__(self, path: Path, *, offset: int, length: int, chunk: int = MIB):
        self.path, self.offset, self.length, self.chunk = path, offset, length, chunk
        self.started = self.body_sent = None

    def __len__(self) -> int:
        return self.length

    def __iter__(self):
        self.started = time.perf_counter()
        yield from _read_slice(self.path, self.offset, self.length, self.chunk)
        self.body_sent = time.perf_counter()


def _read_slice(path: Path, offset: int, length: int, chunk: int):
    with open(path, "rb") as fh:
        fh.seek(offset)
        remaining = length
        while remaining > 0:
            data = fh.read(min(chunk, remaining))
            if not data:
                raise RuntimeError(f"{path} ended {remaining} bytes early")
            remaining -= len(data)
            yield data


class _Sessions:
    """One `requests.Session` per thread (keep-alive, as a real uploader would), all closed at the end."""

    def __init__(self, headers: dict | None = None):
        self.headers = headers or {}
        self._local = threading.local()
        self._all: list[requests.Session] = []
        self._lock = threading.Lock()

    def get(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
            session.headers.update(self.headers)
            with self._lock:
                self._all.append(session)
        return session

    def close(self) -> None:
        for session in self._all:
            session.close()


def _send_all(items, send, in_flight: int) -> list[dict]:
    """`send(item)` for every item, `in_flight` at a time; the first failure stops the upload."""
    with ThreadPoolExecutor(max_workers=in_flight, thread_name_prefix="bench-part") as pool:
        return list(pool.map(send, items))


def _complete(call, *, deadline: float) -> tuple[dict, dict]:
    """Call `complete` until it answers 200; 202 means a worker is still assembling.
    Returns (the 200 answer, timing of the calls)."""
    polls, first_ms = 0, None
    while True:
        started = time.perf_counter()
        response = call()
        if first_ms is None:
            first_ms = round((time.perf_counter() - started) * 1000, 1)
        if response.status_code == 200:
            return response.json(), {"first_complete_ms": first_ms, "polls": polls,
                                     "assembled_by": "worker" if polls else "request"}
        if response.status_code != 202:
            raise RuntimeError(f"complete answered {response.status_code}: {response.text[:500]}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"still assembling after {polls} polls: {response.text[:300]}")
        polls += 1
        time.sleep(POLL_SECONDS)


def _part_timing(body, started: float, finished: float, number: int) -> dict:
    return {"number": number, "ms": round((finished - started) * 1000, 1),
            # From the last byte sent to the answer: the server's work after receiving the part.
            "after_body_ms": round((finished - body.body_sent) * 1000, 1) if body.body_sent else None}


def streamvault_upload(base_url: str, token: str, src: Path, *, name: str, chunk: int, in_flight: int,
                       deadline: float) -> dict:
    """chunk_init → every chunk through `chunk_upload`, `in_flight` at a time → `chunk_complete`
    (again every POLL_SECONDS while it answers 202). Seconds from init to the 200."""
    size = src.stat().st_size
    total = max(1, math.ceil(size / chunk))
    base = f"{base_url}/storage/api/v3"
    sessions = _Sessions({"Authorization": f"Bearer {token}"})
    try:
        control = sessions.get()
        started = time.perf_counter()
        response = control.post(f"{base}/chunk_init/", json={"file_name": name, "total_chunks": total},
                                timeout=(5, 60))
        if response.status_code != 200:
            raise RuntimeError(f"chunk_init answered {response.status_code}: {response.text[:500]}")
        upload_id = response.json()["upload_id"]
        initialised = time.perf_counter()

        def send(number: int) -> dict:
            offset = (number - 1) * chunk
            body = MultipartFile(src, filename=name, fields={"upload_id": upload_id, "chunk_number": number},
                                 offset=offset, length=min(chunk, size - offset))
            sent = time.perf_counter()
            answer = sessions.get().post(f"{base}/chunk_upload/", data=body,
                                         headers={"Content-Type": body.content_type}, timeout=(5, 300))
            if answer.status_code != 200:
                raise RuntimeError(f"chunk_upload {number} answered {answer.status_code}: {answer.text[:500]}")
            return _part_timing(body, sent, time.perf_counter(), number)

        parts = _send_all(range(1, total + 1), send, in_flight)
        received = time.perf_counter()
        answer, calls = _complete(lambda: control.post(f"{base}/chunk_complete/", json={"upload_id": upload_id},
                                                       timeout=(5, 900)), deadline=deadline)
        finished = time.perf_counter()
    finally:
        sessions.close()
    return {"seconds": round(finished - started, 3), "mib_s": round(size / MIB / (finished - started), 1),
            "init_s": round(initialised - started, 3), "chunks_s": round(received - initialised, 3),
            "complete_s": round(finished - received, 3), **calls, "chunks": total, "upload_id": upload_id,
            "file_id": answer["file_id"], "parts": parts}


def megavault_upload(base_url: str, token: str, src: Path, *, sha256: str, name: str, chunk: int,
                     in_flight: int, deadline: float) -> dict:
    """upload/init (one file, `chunkSize` = chunk) → PUT every part to its presigned URL,
    `in_flight` at a time → upload/complete with the SHA-256 (again while it answers 202).
    Raises NotAvailable when the endpoint is missing or hands out no S3 URLs."""
    size = src.stat().st_size
    base = f"{base_url}/api/mobile/upload"
    control = requests.Session()
    control.headers["Authorization"] = f"Bearer {token}"
    s3_sessions = _Sessions()  # no Authorization header: the URL carries the signature
    try:
        started = time.perf_counter()
        response = control.post(f"{base}/init", timeout=(5, 60), json={
            "files": [{"localId": "bench", "name": name, "size": size, "mimeType": "application/octet-stream",
                       "folder": "/bench"}], "uploadOptions": {"chunkSize": chunk}})
        if response.status_code in (401, 403, 404, 405, 501):
            raise NotAvailable(f"POST /api/mobile/upload/init answered {response.status_code}: "
                               f"{response.text[:200]}")
        if response.status_code != 200:
            raise RuntimeError(f"upload/init answered {response.status_code}: {response.text[:500]}")
        entry = response.json()["data"]["files"][0]
        if not entry.get("direct"):
            raise NotAvailable(f"upload/init gave no presigned S3 part URLs (`direct` is {entry.get('direct')!r})")
        plan = _direct_plan(entry["chunks"], size, chunk)
        upload_id = entry["uploadId"]
        initialised = time.perf_counter()

        def put(item) -> dict:
            number, offset, length, url = item
            body = FileSlice(src, offset=offset, length=length)
            sent = time.perf_counter()
            answer = s3_sessions.get().put(url, data=body, timeout=(5, 300))
            if answer.status_code != 200:
                raise RuntimeError(f"PUT of part {number} answered {answer.status_code}: {answer.text[:500]}")
            return _part_timing(body, sent, time.perf_counter(), number)

        parts = _send_all(plan, put, in_flight)
        received = time.perf_counter()
        answer, calls = _complete(lambda: control.post(f"{base}/complete", timeout=(5, 900), json={
            "uploadId": upload_id, "checksum": f"sha256:{sha256}"}), deadline=deadline)
        finished = time.perf_counter()
    finally:
        control.close()
        s3_sessions.close()
    file = answer["data"]["file"]
    return {"seconds": round(finished - started, 3), "mib_s": round(size / MIB / (finished - started), 1),
            "init_s": round(initialised - started, 3), "chunks_s": round(received - initialised, 3),
            "complete_s": round(finished - received, 3), **calls, "chunks": len(plan), "upload_id": upload_id,
            "file_id": file.get("id") or file.get("uuid") or file.get("fileId"), "file": file, "parts": parts,
            "url_host": plan[0][3].split("/")[2] if plan else None}


def _direct_plan(chunks: list[dict], size: int, chunk: int) -> list[tuple[int, int, int, str]]:
    """(part number, offset, length, URL) for every chunk of an init answer. A chunk
    gives `start`/`end` (inclusive) as MegaVault documents them, or `offset`/`size`;
    without either, chunk i covers [i × chunk, (i + 1) × chunk)."""
    plan = []
    for index, item in enumerate(chunks):
        offset = item.get("start", item.get("offset", index * chunk))
        if "end" in item:
            length = item["end"] - offset + 1
        else:
            length = item.get("size", min(chunk, size - offset))
        plan.append((item.get("partNumber", item.get("index", index) + 1), offset, length, item["uploadUrl"]))
    covered = sum(length for _, _, length, _ in plan)
    if covered != size:
        raise RuntimeError(f"upload/init gave {len(plan)} part URLs covering {covered} of {size} bytes")
    return plan
