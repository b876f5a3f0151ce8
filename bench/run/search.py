"""Phase `search`: name search among 1,000,000 files."""

import random

import requests

from bench.words import WORDS

from .common import log, percentile, summary_ms
from .stack import Stack, run_task
from .listing import timed_gets


def search_terms(count: int, rows: int, seed: int) -> list[str]:
    """Fragments (3-8 characters) of names as the search rows are named: `{w1}_{w2}_{n}`."""
    rng = random.Random(seed)
    terms = []
    while len(terms) < count:
        name = f"{rng.choice(WORDS)}_{rng.choice(WORDS)}_{rng.randrange(rows)}"
        length = rng.randint(3, 8)
        if len(name) < length:
            continue
        start = rng.randrange(len(name) - length + 1)
        term = name[start:start + length]
        if term.strip("_") != term:  # users do not type a leading or trailing separator
            continue
        terms.append(term)
    return terms


def hard_search_terms() -> list[str]:
    """Terms that each stress one way of finding a page (files.selectors.NameSearch): every
    row matching (`jpg`); two characters, too short for a trigram (common ones, and an absent
    one: a walk over every name); the last word in name order, `_` and the commonest first
    letter (a few thousand matches, all in the last stretch of names); the same with a
    longer second word (a few hundred there)."""
    from collections import Counter

    last = max(WORDS)
    letter = Counter(w[0] for w in WORDS).most_common(1)[0][0]
    second = max(w for w in WORDS if w.startswith(letter))
    return ["jpg", min(WORDS)[:2], "_1", "qz", f"{last}_{letter}", f"{last}_{second[:3]}"]


def search(stack: "Stack", cfg: dict, deadline: float) -> dict:
    env, server, token = stack.env, stack.server, stack.users["bench-search"]["token"]
    rows = cfg["search_rows"]
    seeded = run_task(env, "seed-search", {"username": "bench-search", "rows": rows, "folders": 100},
                      timeout=1200)
    log(f"search rows loaded: {seeded}")
    terms = search_terms(cfg["search_requests"], rows, seed=11)

    def check(params, body):
        pagination = body["data"]["pagination"]
        return pagination["total"], pagination.get("totalCapped", False)

    with requests.Session() as session:
        session.headers["Authorization"] = f"Bearer {token}"
        url = f"{server.url}/api/search"
        timed_gets(session, url, [{"q": t} for t in search_terms(10, rows, seed=12)], deadline, check)  # warm-up
        results = timed_gets(session, url, [{"q": t} for t in terms], deadline, check)
        hard = timed_gets(session, url, [{"q": t} for t in hard_search_terms()], deadline, check)
    samples = [ms for _, ms, _ in results]

    def rows_of(timed):
        return sorted(({"q": p["q"], "ms": round(ms, 1), "matches": total, "capped": capped}
                       for p, ms, (total, capped) in timed), key=lambda r: -r["ms"])

    per_term = rows_of(results)
    matches = [r["matches"] for r in per_term]
    # Counted in full up to the cap (files.selectors.NameSearch.CAP): past it, `matches` is the cap.
    fast = [r["ms"] for r in per_term if r["matches"] <= 1000 and not r["capped"]]
    slow = [r["ms"] for r in per_term if r["matches"] > 1000 or r["capped"]]
    # The slowest term, the slowest with a counted total, the median and the fastest.
    few = [r for r in per_term if not r["capped"]]
    explain_terms = list(dict.fromkeys([per_term[0]["q"], *([few[0]["q"]] if few else []),
                                        per_term[len(per_term) // 2]["q"], per_term[-1]["q"]]))
    explain = run_task(env, "explain", {"token": token, "requests": [
        {"url": "/api/search", "params": {"q": t}} for t in explain_terms]}, timeout=300)
    return {
        "rows_for_user": seeded["rows"], "copy_seconds": seeded["copy_seconds"],
        "vacuum_analyze_seconds": seeded["vacuum_analyze_seconds"], "page_size": 50,
        "latency_ms": summary_ms(samples),
        "latency_ms_terms_up_to_1000_matches": summary_ms(fast) if fast else None,
        "latency_ms_terms_over_1000_matches": summary_ms(slow) if slow else None,
        "matches": {"p50": percentile(matches, 50), "p95": percentile(matches, 95), "max": max(matches),
                    "zero": sum(1 for m in matches if m == 0), "capped": sum(1 for r in per_term if r["capped"])},
        "per_term_slowest_first": per_term, "hard_terms_slowest_first": rows_of(hard), "explain": explain,
    }
