"""Phase `listing`: pages of a 10,000-file folder (again after the search rows exist)."""

import math
import random
import time

import requests

from .common import BenchTimeout, CONTENT, LISTING_PAGE_SIZE, summary_ms
from .stack import Stack, run_task


def timed_gets(session: requests.Session, url: str, params_list: list[dict], deadline: float, check) -> list:
    rows = []
    for params in params_list:
        if time.monotonic() > deadline:
            raise BenchTimeout("request loop ran out of time")
        started = time.perf_counter()
        response = session.get(url, params=params, timeout=(5, 30))
        _ = response.content
        ms = (time.perf_counter() - started) * 1000
        if response.status_code != 200:
            raise RuntimeError(f"GET {url} {params} answered {response.status_code}: {response.text[:300]}")
        rows.append((params, ms, check(params, response.json())))
    return rows


def _time_listing(stack: "Stack", folder: str, total: int, count: int, deadline: float) -> tuple[list, list]:
    """Ten warm-up requests, `count` timed ones on random pages (the same pages every call),
    then 20 at pageSize 1. Returns (rows, rows at pageSize 1)."""
    rng = random.Random(7)

    def check(params, body):
        size = params["pageSize"]
        expected = min(size, total - (params["page"] - 1) * size)
        items = body["data"]["items"]
        assert len(items) == expected and body["data"]["pagination"]["total"] == total, "wrong page"
        return len(items)

    def plan(n, size=LISTING_PAGE_SIZE):
        return [{"folderId": folder, "page": rng.randint(1, math.ceil(total / size)), "pageSize": size}
                for _ in range(n)]

    with requests.Session() as session:
        session.headers["Authorization"] = f"Bearer {stack.users['bench']['token']}"
        url = f"{stack.server.url}/api/files/list"
        timed_gets(session, url, plan(10), deadline, check)  # warm-up, not counted
        rows = timed_gets(session, url, plan(count), deadline, check)
        # The same request with one item per page: the cost of a list request without its items.
        floor = timed_gets(session, url, plan(20, size=1), deadline, check)
    return rows, floor


def _explain_listing(stack: "Stack", rows: list) -> dict:
    slowest = max(rows, key=lambda r: r[1])[0]
    return run_task(stack.env, "explain", {"token": stack.users["bench"]["token"], "requests": [
        {"url": "/api/files/list", "params": slowest}]}, timeout=120)


def listing(stack: "Stack", cfg: dict, deadline: float) -> dict:
    env, token = stack.env, stack.users["bench"]["token"]
    seeded = run_task(env, "seed-listing", {"username": "bench", "files": cfg["listing_files"],
                                            "content": CONTENT.decode(), "storage_key": "bench/listing-shared"},
                      timeout=300)
    folder, total = seeded["folder"], seeded["files"]
    pages = math.ceil(total / LISTING_PAGE_SIZE)
    rows, floor = _time_listing(stack, folder, total, cfg["listing_requests"], deadline)
    samples = [ms for _, ms, _ in rows]

    counts = run_task(env, "query-counts", {"token": token, "folder": folder, "page_sizes": [10, 100, 1000]},
                      timeout=120)["counts"]
    per_size = {}
    for row in counts:
        per_size.setdefault(str(row["pageSize"]), {})[f"page{row['page']}"] = row["queries"]
    return {
        "folder": folder, "files": total, "seed_seconds": seeded["seconds"], "page_size": LISTING_PAGE_SIZE,
        "pages": pages, "latency_ms": summary_ms(samples),
        "latency_ms_first_10_pages": summary_ms([ms for p, ms, _ in rows if p["page"] <= 10] or [0]),
        "latency_ms_last_10_pages": summary_ms([ms for p, ms, _ in rows if p["page"] > pages - 10] or [0]),
        "latency_ms_page_size_1": summary_ms([ms for _, ms, _ in floor]),
        "slowest_request": max(rows, key=lambda r: r[1])[0],
        "query_counts": per_size, "query_counts_equal": len({row["queries"] for row in counts}) == 1,
        "query_count_detail": counts, "explain": _explain_listing(stack, rows),
    }


def listing_again(stack: "Stack", cfg: dict, deadline: float, first: dict) -> dict:
    """The same list requests once the search rows are in folders_node too: the planner
    now sees a large table, as on a real server, and may choose other plans."""
    rows, floor = _time_listing(stack, first["folder"], first["files"], cfg["listing_requests"], deadline)
    return {"latency_ms": summary_ms([ms for _, ms, _ in rows]),
            "latency_ms_page_size_1": summary_ms([ms for _, ms, _ in floor]),
            "explain": _explain_listing(stack, rows)}
