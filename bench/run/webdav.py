"""Phase `webdav`: rclone through Stratus's /dav/ against copyparty's own WebDAV, both on
local storage, in the same run; and PROPFIND Depth 1 on a 10,000-entry folder (PostgreSQL)."""

import hashlib
import os
import shutil
import statistics
import subprocess
import time
from pathlib import Path

import requests

from .common import DB_NAME, MIB, TARGETS, log, percentile, ratio_text, summary_ms
from .peer import peer_forget
from .procs import RssSampler
from .stack import Copyparty, Gunicorn, Stack, pg_admin, run_task
from .transfer import make_source

USER = "bench-dav"
# The same flags for both servers: rclone's WebDAV without a vendor's extensions (no
# modification times, no checksums: sizes are compared), 4 transfers at once.
RCLONE_FLAGS = ["--webdav-vendor", "other", "--transfers", "4", "--checkers", "8", "--retries", "1",
                "--low-level-retries", "1", "--contimeout", "30s", "--timeout", "300s", "--stats", "0"]
# What rclone asks of a folder, and what the Nextcloud desktop client asks (at its address).
RCLONE_PROPS = ("<d:displayname/><d:getlastmodified/><d:getcontentlength/><d:resourcetype/><d:getcontenttype/>"
                "<d:getetag/>")
NEXTCLOUD_PROPS = ("<d:resourcetype/><d:getlastmodified/><d:getcontentlength/><d:getetag/><oc:size/><oc:id/>"
                   "<oc:fileid/><oc:downloadURL/><oc:dDC/><oc:permissions/><oc:checksums/><nc:is-encrypted/>"
                   "<nc:has-preview/><oc:share-types/><oc:data-fingerprint/><nc:lock/><nc:lock-owner/>")


def _propfind_body(props: str) -> bytes:
    return ('<?xml version="1.0"?><d:propfind xmlns:d="DAV:" xmlns:oc="http://owncloud.org/ns" '
            f'xmlns:nc="http://nextcloud.org/ns"><d:prop>{props}</d:prop></d:propfind>').encode()


def _rclone_env(remotes: dict[str, dict]) -> dict:
    env = {**os.environ, "RCLONE_CONFIG": os.devnull}
    for name, remote in remotes.items():
        prefix = f"RCLONE_CONFIG_{name.upper()}_"
        env.update({prefix + "TYPE": "webdav", prefix + "URL": remote["url"], prefix + "VENDOR": "other"})
        if remote.get("user"):
            env[prefix + "USER"] = remote["user"]
            env[prefix + "PASS"] = subprocess.run(["rclone", "obscure", remote["password"]], check=True,
                                                  capture_output=True, text=True).stdout.strip()
    return env


def _rclone(env: dict, *args: str, sampler_pid: int | None = None) -> dict:
    """One rclone command, timed; the RSS of the server's processes sampled meanwhile."""
    sampler = RssSampler(sampler_pid) if sampler_pid else None
    if sampler:
        sampler.start()
    started = time.perf_counter()
    try:
        proc = subprocess.run(["rclone", *args, *RCLONE_FLAGS], env=env, capture_output=True, text=True,
                              timeout=1800)
    finally:
        seconds = time.perf_counter() - started
        rss = sampler.finish() if sampler else None
    if proc.returncode != 0:
        raise RuntimeError(f"rclone {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    peak = max((w["peak_rss_mib"] for w in rss["workers"].values()), default=None) if rss else None
    return {"seconds": round(seconds, 3), "peak_rss_mib": peak,
            "master_peak_rss_mib": rss["master_peak_mib"] if rss else None}


def _tree(folder: Path, count: int, kib: int) -> dict[str, str]:
    folder.mkdir()
    digests = {}
    for n in range(count):
        data = os.urandom(kib * 1024)
        (folder / f"f{n:04d}.bin").write_bytes(data)
        digests[f"f{n:04d}.bin"] = hashlib.sha256(data).hexdigest()
    return digests


def _sha(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(MIB):
            digest.update(block)
    return digest.hexdigest()


def _transfer(env: dict, remote: str, pid: int, kind: str, way: str, name: str, source: tuple, target: Path) -> dict:
    """One timed rclone command: the big file (`copyto`) or the tree (`copy`), up from the
    source or down into `target`, which is then hashed against the source and removed."""
    command = "copyto" if kind == "big" else "copy"
    if way == "up":
        os.sync()  # each write starts with no dirty pages (see `peer`)
        return _rclone(env, command, str(source[0]), remote + name, sampler_pid=pid)
    run = _rclone(env, command, remote + name, str(target), sampler_pid=pid)
    if kind == "big":
        run["sha256_ok"] = _sha(target) == source[1]
        target.unlink()
    else:
        run["sha256_ok"] = {path.name: _sha(path) for path in target.iterdir()} == source[1]
        shutil.rmtree(target)
    return run


def _analyze() -> None:
    """The statistics autovacuum keeps on a live server, brought up to date (untimed) before
    each Stratus transfer: the bench's PostgreSQL may run with autovacuum off (CI's does),
    and a table never analysed gets plans that read every entry of the user for each path
    looked up (at 5,700 entries, PostgreSQL's CPU per file of a tree upload: 12 ms without
    them, 6 ms with)."""
    pg_admin("ANALYZE", dbname=DB_NAME)


def webdav(stack: "Stack", cfg: dict, deadline: float) -> dict:
    """rclone up and down, one big file then a tree of small ones, copyparty and Stratus
    interleaved `repeats` times; then PROPFIND timings on the stack's own server."""
    scratch = stack.workdir / "webdav"
    scratch.mkdir()
    account = run_task(stack.env, "users", {"usernames": [USER]}, timeout=120)[USER]
    auth = {"Authorization": f"Bearer {account['token']}"}
    local = Gunicorn({**stack.env, **stack.server_env, "STORAGE_BACKEND": "local",
                      "DATA_DIR": str(stack.workdir / "webdav-data")}, stack.workdir, workers=stack.workers,
                     threads=stack.threads)
    party = Copyparty(stack.workdir)
    big = scratch / "big.bin"
    big_sha = make_source(big, cfg["dav_file_mib"])
    tree_src = scratch / "tree"
    tree_sha = _tree(tree_src, cfg["dav_small_files"], 10)
    sources = {"big": (big, big_sha), "tree": (tree_src, tree_sha)}
    runs = {f"{server}_{kind}_{way}": [] for server in ("copyparty", "stratus") for kind in ("big", "tree")
            for way in ("up", "down")}
    out = {"file_mib": cfg["dav_file_mib"], "small_files": cfg["dav_small_files"], "small_kib": 10,
           "rclone": subprocess.run(["rclone", "version"], capture_output=True, text=True).stdout.splitlines()[0],
           "rclone_flags": " ".join(RCLONE_FLAGS), "runs": runs}
    try:
        local.start()
        party.start()
        created = requests.post(local.url + "/api/app-passwords", json={"name": "bench rclone"}, headers=auth,
                                timeout=30)
        if created.status_code != 201:
            raise RuntimeError(f"app password: {created.status_code} {created.text[:300]}")
        secret = created.json()["data"]
        env = _rclone_env({"stratus": {"url": local.url + "/dav/", "user": secret["login"],
                                       "password": secret["password"]},
                           "party": {"url": party.url + "/"}})
        servers = {"copyparty": ("party:", party.process.pid), "stratus": ("stratus:", local.process.pid)}
        _rclone(env, "copyto", str(tree_src / "f0000.bin"), "party:warm.bin")  # warm-up, not timed
        _rclone(env, "copyto", str(tree_src / "f0000.bin"), "stratus:warm.bin")
        for n in range(cfg["repeats"]):
            if time.monotonic() > deadline - 120:
                break
            # Which server goes first alternates by round: on this machine a 1 GiB write
            # right after a round's deletions (memory just freed) was often ~2 s, the next
            # one ~3 s, whichever server made it; a fixed order favours one of them.
            order = list(servers.items()) if n % 2 == 0 else list(servers.items())[::-1]
            for kind, way in (("big", "up"), ("big", "down"), ("tree", "up"), ("tree", "down")):
                for server, (remote, pid) in order:
                    if server == "stratus":
                        _analyze()
                    runs[f"{server}_{kind}_{way}"].append(_transfer(
                        env, remote, pid, kind, way, f"{kind}-{n}", sources[kind], scratch / f"{server}-{kind}-{n}"))
            # Both servers start each round empty: a file left from an earlier round stays in
            # the page cache, and writing beside cached gigabytes is several times slower here.
            for name in (f"big-{n}", f"tree-{n}"):
                path = party.folder / name
                shutil.rmtree(path) if path.is_dir() else path.unlink(missing_ok=True)
            _forget(local, env, account["token"])
            log(f"webdav run {n + 1}: " + ", ".join(f"{k} {v[-1]['seconds']} s" for k, v in runs.items()))
    finally:
        party.stop()
        local.stop()
        shutil.rmtree(scratch, ignore_errors=True)
    if not runs["stratus_tree_down"]:
        out["not_available"] = "no round finished within the time budget"
        return out
    big_mib, tree_mib = cfg["dav_file_mib"], cfg["dav_small_files"] * 10 / 1024
    median = {key: statistics.median(r["seconds"] for r in rows) for key, rows in runs.items()}
    out["median_mib_s"] = {key: round((big_mib if "_big_" in key else tree_mib) / seconds, 2)
                           for key, seconds in median.items()}
    out["median_files_s"] = {key: round(cfg["dav_small_files"] / seconds, 1)
                             for key, seconds in median.items() if "_tree_" in key}
    out["ratios"] = {f"{kind}_{way}": round(median[f"copyparty_{kind}_{way}"] / median[f"stratus_{kind}_{way}"], 3)
                     for kind in ("big", "tree") for way in ("up", "down")}
    out["stratus_peak_rss_mib"] = max(r["peak_rss_mib"] for key, rows in runs.items() if key.startswith("stratus")
                                      for r in rows)
    out["copyparty_peak_rss_mib"] = max(r["master_peak_rss_mib"] for key, rows in runs.items()
                                        if key.startswith("copyparty") for r in rows)
    out["sha256_ok"] = all(r["sha256_ok"] for rows in runs.values() for r in rows if "sha256_ok" in r)
    out["propfind"] = propfind_timing(stack, cfg, account, deadline)
    return out


def _forget(local: "Gunicorn", env: dict, token: str) -> None:
    """The local-storage server shares the database with the S3 one: its files go for good
    (to the trash over WebDAV, the trash emptied, gc_blobs drops their blobs and files)."""
    listed = subprocess.run(["rclone", "lsf", "stratus:", *RCLONE_FLAGS], env=env, capture_output=True, text=True,
                            timeout=300)
    for name in listed.stdout.split():
        subprocess.run(["rclone", "purge" if name.endswith("/") else "deletefile", f"stratus:{name}",
                        *RCLONE_FLAGS], env=env, capture_output=True, timeout=300, check=True)
    response = requests.delete(local.url + "/api/trash", headers={"Authorization": f"Bearer {token}"}, timeout=300)
    if response.status_code != 200:
        raise RuntimeError(f"emptying the trash answered {response.status_code}: {response.text[:300]}")
    peer_forget(local, token, [])  # nothing is left to delete by id: this runs its gc_blobs


def propfind_timing(stack: "Stack", cfg: dict, account: dict, deadline: float) -> dict:
    """PROPFIND Depth 1 on a folder of `propfind_entries` file rows, on the stack's server
    (PostgreSQL), as rclone asks at /dav/ and as the Nextcloud desktop client asks at its
    address: ten untimed, then `propfind_requests` timed from send to the last byte."""
    seeded = run_task(stack.env, "seed-listing", {"username": USER, "files": cfg["propfind_entries"],
                                                  "content": "stratus bench listing content\n",
                                                  "storage_key": "bench/listing-shared"}, timeout=600)
    server = stack.server
    created = requests.post(server.url + "/api/app-passwords", json={"name": "bench propfind"}, timeout=30,
                            headers={"Authorization": f"Bearer {account['token']}"})
    created.raise_for_status()
    secret = created.json()["data"]
    out = {"entries": seeded["files"]}
    for kind, url, props in (("dav", f"{server.url}/dav/bench-listing/", RCLONE_PROPS),
                             ("nextcloud", f"{server.url}/remote.php/dav/files/{USER}/bench-listing/",
                              NEXTCLOUD_PROPS)):
        body, samples, first_bytes = _propfind_body(props), [], []
        sampler = RssSampler(server.process.pid)
        sampler.start()
        try:
            with requests.Session() as session:
                session.auth = (secret["login"], secret["password"])
                for n in range(10 + cfg["propfind_requests"]):
                    if time.monotonic() > deadline - 30:
                        break
                    started = time.perf_counter()
                    with session.request("PROPFIND", url, data=body, headers={"Depth": "1"}, stream=True,
                                         timeout=(5, 60)) as response:
                        chunks = response.iter_content(64 * 1024)
                        first = next(chunks, b"")
                        first_at = time.perf_counter()
                        received = first + b"".join(chunks)
                    seconds = time.perf_counter() - started
                    entries = received.count(b"<d:response>") + received.count(b"<D:response>")
                    if response.status_code != 207 or entries != seeded["files"] + 1:
                        raise RuntimeError(f"PROPFIND {url}: {response.status_code}, {entries} entries")
                    if n >= 10:
                        samples.append(seconds * 1000)
                        first_bytes.append((first_at - started) * 1000)
        finally:
            rss = sampler.finish()
        out[kind] = {**summary_ms(samples), "first_byte_p50_ms": round(percentile(first_bytes, 50), 1),
                     "bytes": len(received), "peak_rss_mib": max(
                         (w["peak_rss_mib"] for w in rss["workers"].values()), default=None)}
    return out


def webdav_figures(wd: dict, add, verdict) -> None:
    """The phase's rows of the report's table."""
    mib, files = wd["median_mib_s"], wd["median_files_s"]
    labels = {"big": f"rclone, one {wd['file_mib']} MiB file", "tree": f"rclone, {wd['small_files']} × 10 KiB files"}
    for kind, label in labels.items():
        for way, verb in (("up", "up"), ("down", "down")):
            ratio = wd["ratios"][f"{kind}_{way}"]
            passed = ratio >= TARGETS["dav_ratio"]
            pair = (f"{mib[f'stratus_{kind}_{way}']} / {mib[f'copyparty_{kind}_{way}']} MiB/s" if kind == "big" else
                    f"{files[f'stratus_{kind}_{way}']} / {files[f'copyparty_{kind}_{way}']} files/s")
            add(f"{label} {verb}: /dav/ / copyparty WebDAV, local storage", pair,
                f"≥ {TARGETS['dav_ratio']}× copyparty", f"{ratio_text(ratio)} {verdict(passed)}", f"dav_{kind}_{way}_ratio",
                passed)
    passed = wd["stratus_peak_rss_mib"] < TARGETS["worker_rss_mib"]
    add(f"  peak RSS of a Stratus worker under rclone (MiB; copyparty's {wd['copyparty_peak_rss_mib']})",
        wd["stratus_peak_rss_mib"], f"< {TARGETS['worker_rss_mib']}", verdict(passed), "dav_worker_rss_mib", passed)
    for kind, label in (("dav", "/dav/, rclone's properties"), ("nextcloud", "Nextcloud address, desktop client's")):
        pf = wd.get("propfind", {}).get(kind)
        if pf:
            passed = pf["p95"] < TARGETS["propfind_p95_ms"]
            add(f"PROPFIND Depth 1, {wd['propfind']['entries']:,} entries, {label}: p50 / p95 (ms); first byte "
                f"{pf['first_byte_p50_ms']} ms", f"{pf['p50']} / {pf['p95']}", f"p95 < {TARGETS['propfind_p95_ms']}",
                verdict(passed), f"propfind_{kind}_p95_ms", passed)
