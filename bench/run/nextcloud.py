"""Phase `nextcloud`: the Nextcloud desktop app's sync engine (Debian's `nextcloudcmd`)
beside rclone over `/dav/` (Debian's rclone), both as people run them (their default
parallelism), on the bench's server, with the same files: many small files and one large
file, up into an empty folder and down into a fresh local folder; then a no-change
re-sync of a large tree; the gunicorn workers' peak RSS while nextcloudcmd syncs."""

import hashlib
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import requests

from .common import BUCKET, MIB, TARGETS, log, ratio_text
from .procs import RssSampler
from .stack import Stack, run_task
from .transfer import make_source

# Small files (10 KiB each) and files in the re-synced tree (100 a folder); the large file is
# the transfer phase's size (`--file-mib`: 1 GiB, 64 MiB with --quick).
SIZES = {False: {"small_files": 1000, "tree_files": 10_000}, True: {"small_files": 200, "tree_files": 1_000}}
SMALL_BYTES = 10 * 1024
TREE_FOLDER_FILES = 100
TREE_CONTENT = b"stratus bench nextcloud tree\n"  # the one blob the tree's rows share
TREE_KEY = "bench/nextcloud-tree"
LOGIN = "bench"
# The Nextcloud client's own journal beside the files it syncs: not part of the tree.
CLIENT_FILES = (".sync_", "._sync_", ".owncloudsync.log")


class Clients:
    """nextcloudcmd and rclone signed in to the bench's server with one app password."""

    def __init__(self, stack: "Stack", work: Path):
        self.url, self.work = stack.server.url, work
        self.master = stack.server.process.pid
        self.token = stack.users[LOGIN]["token"]
        made = requests.post(self.url + "/api/app-passwords", json={"name": "bench: nextcloudcmd and rclone"},
                             headers={"Authorization": f"Bearer {self.token}"}, timeout=60)
        made.raise_for_status()
        self.password = made.json()["data"]["password"]
        self.home = work / "home"
        (self.home / "run").mkdir(parents=True, mode=0o700)
        obscured = subprocess.run(["rclone", "obscure", self.password], check=True, capture_output=True, text=True,
                                  timeout=30).stdout.strip()
        self.rclone_env = {**os.environ, "RCLONE_CONFIG": os.devnull, "RCLONE_CONFIG_STRATUS_TYPE": "webdav",
                           "RCLONE_CONFIG_STRATUS_URL": self.url + "/dav/", "RCLONE_CONFIG_STRATUS_VENDOR": "other",
                           "RCLONE_CONFIG_STRATUS_USER": LOGIN, "RCLONE_CONFIG_STRATUS_PASS": obscured}
        self.nextcloudcmd_env = {**os.environ, "HOME": str(self.home), "XDG_CONFIG_HOME": str(self.home / "config"),
                                 "XDG_DATA_HOME": str(self.home / "data"), "XDG_CACHE_HOME": str(self.home / "cache"),
                                 "XDG_RUNTIME_DIR": str(self.home / "run"), "QT_QPA_PLATFORM": "offscreen"}

    def folder(self, name: str) -> None:
        made = requests.post(self.url + "/api/folders/create", json={"name": name},
                             headers={"Authorization": f"Bearer {self.token}"}, timeout=60)
        made.raise_for_status()

    def nextcloudcmd(self, local: Path, remote: str, nbytes: int, timeout: float) -> dict:
        local.mkdir(parents=True, exist_ok=True)
        return self._timed("nextcloudcmd", [
            "nextcloudcmd", "--non-interactive", "--max-sync-retries", "1", "-u", LOGIN, "-p", self.password,
            "--path", remote, str(local), self.url], self.nextcloudcmd_env, nbytes, timeout)

    def rclone(self, source: str, dest: str, nbytes: int, timeout: float) -> dict:
        return self._timed("rclone", ["rclone", "copy", source, dest, "--retries", "1", "--low-level-retries", "2",
                                      "--exclude", ".sync_*", "--exclude", "._sync_*"],
                           self.rclone_env, nbytes, timeout)

    def _timed(self, name: str, args: list[str], env: dict, nbytes: int, timeout: float) -> dict:
        """One run with its output in a log file (thousands of lines), timed, the server's RSS sampled."""
        log_path = self.work / f"{name}-{time.monotonic_ns()}.log"
        os.sync()  # no dirty pages of the previous step written back during this one
        sampler = RssSampler(self.master, interval=0.05)
        sampler.start()
        try:
            with open(log_path, "wb") as out:
                started = time.perf_counter()
                proc = subprocess.run(args, env=env, stdout=out, stderr=subprocess.STDOUT, timeout=timeout)
                seconds = time.perf_counter() - started
        finally:
            rss = sampler.finish()
        run = {"seconds": round(seconds, 3), "mib_s": round(nbytes / MIB / seconds, 2), "exit_code": proc.returncode,
               "server_peak_rss_mib": max((w["peak_rss_mib"] for w in rss["workers"].values()), default=None)}
        if proc.returncode != 0:
            lines = log_path.read_text(errors="replace").splitlines()
            errors = [line for line in lines if re.search(r'error: "|FINISHED WITH STATUS "(?!NoError)', line)] or lines
            raise RuntimeError(f"{name} exited with {proc.returncode}:\n" + "\n".join(errors[-8:]))
        return run


def _digests(root: Path) -> dict[str, str]:
    found = {}
    for path in root.rglob("*"):
        if path.is_file() and not path.name.startswith(CLIENT_FILES):
            with open(path, "rb") as stream:
                found[str(path.relative_to(root))] = hashlib.file_digest(stream, "sha256").hexdigest()
    return found


def _small_files(folder: Path, count: int, nbytes: int) -> None:
    for n in range(count):
        (folder / f"f{n:05d}.bin").write_bytes(os.urandom(nbytes))


def nextcloud(stack: "Stack", cfg: dict, deadline: float) -> dict:
    missing = [tool for tool in ("nextcloudcmd", "rclone") if not shutil.which(tool)]
    if missing:
        return {"not_available": f"{' and '.join(missing)} not installed (.ci/apt-packages)"}
    sizes = {**SIZES[cfg["quick"]], "big_mib": cfg["file_mib"]}
    work = stack.workdir / "nextcloud"
    work.mkdir()
    clients = Clients(stack, work)
    result = {"sizes": {**sizes, "small_kib": SMALL_BYTES // 1024}, "runs": {}, "failed": {}, "identical": {}}

    def left() -> float:
        return deadline - time.monotonic() - 30

    try:
        for kind in ("small", "big"):
            source = work / f"source-{kind}"
            source.mkdir()
            if kind == "small":
                _small_files(source, sizes["small_files"], SMALL_BYTES)
                nbytes = sizes["small_files"] * SMALL_BYTES
            else:
                make_source(source / "big.bin", sizes["big_mib"])
                nbytes = sizes["big_mib"] * MIB
            expected = _digests(source)
            clients.folder(f"nc-{kind}")
            runs = result["runs"][kind] = {}
            for step, run in (
                    # rclone first: nextcloudcmd leaves its journal in the folder it syncs.
                    ("rclone_up", lambda: clients.rclone(str(source), f"stratus:rc-{kind}", nbytes, left())),
                    ("nextcloudcmd_up", lambda: clients.nextcloudcmd(source, f"/nc-{kind}", nbytes, left())),
                    ("rclone_down", lambda: clients.rclone(f"stratus:rc-{kind}", str(work / f"rclone-{kind}"),
                                                           nbytes, left())),
                    # Down from the same remote folder, so one failed upload does not hide the download.
                    ("nextcloudcmd_down", lambda: clients.nextcloudcmd(work / f"nextcloudcmd-{kind}", f"/rc-{kind}",
                                                                       nbytes, left()))):
                if left() < 60:
                    result["failed"][f"{kind} {step}"] = "not enough of the time budget left"
                    continue
                try:
                    runs[step] = run()
                    log(f"nextcloud {kind} {step}: {runs[step]['mib_s']} MiB/s")
                except Exception as exc:  # noqa: BLE001 - recorded; the other client is still measured
                    result["failed"][f"{kind} {step}"] = str(exc)
                    log(f"nextcloud {kind} {step} failed: {str(exc)[-500:]}")
            for client in ("rclone", "nextcloudcmd"):
                down = work / f"{client}-{kind}"
                if down.exists():
                    result["identical"][f"{kind} {client}"] = _digests(down) == expected
                    shutil.rmtree(down)
            shutil.rmtree(source)

        if left() > 60:
            # The tree is made on the server (rows sharing one stored object: 10,000 uploads would
            # take most of the budget), then synced down once; the second run is the measure.
            stack.weed.client().put_object(Bucket=BUCKET, Key=TREE_KEY, Body=TREE_CONTENT)
            run_task(stack.env, "seed-listing", {
                "username": LOGIN, "files": sizes["tree_files"], "content": TREE_CONTENT.decode(),
                "storage_key": TREE_KEY, "name": "nc-tree", "folders": sizes["tree_files"] // TREE_FOLDER_FILES},
                timeout=300)
            tree = work / "tree"
            try:
                first = clients.nextcloudcmd(tree, "/nc-tree", sizes["tree_files"] * len(TREE_CONTENT), left())
                synced = len(_digests(tree))
                if synced != sizes["tree_files"]:
                    raise RuntimeError(f"the first sync brought {synced} of {sizes['tree_files']} files")
                again = clients.nextcloudcmd(tree, "/nc-tree", 0, left())
                result["resync"] = {"files": sizes["tree_files"], "first_sync_s": first["seconds"],
                                    "first_sync_files_s": round(sizes["tree_files"] / first["seconds"], 1),
                                    "no_change_s": again["seconds"],
                                    "server_peak_rss_mib": max(first["server_peak_rss_mib"],
                                                               again["server_peak_rss_mib"])}
                log(f"nextcloud re-sync of {sizes['tree_files']} files: {again['seconds']} s")
            except Exception as exc:  # noqa: BLE001
                result["failed"]["resync"] = str(exc)
        else:
            result["failed"]["resync"] = "not enough of the time budget left"
    finally:
        shutil.rmtree(work, ignore_errors=True)

    peaks = [run["server_peak_rss_mib"] for runs in result["runs"].values() for step, run in runs.items()
             if step.startswith("nextcloudcmd") and run["server_peak_rss_mib"] is not None]
    if result.get("resync"):
        peaks.append(result["resync"]["server_peak_rss_mib"])
    result["server_peak_rss_mib"] = max(peaks, default=None)
    result["ratios"] = {f"{kind} {direction}": round(runs[f"nextcloudcmd_{direction}"]["mib_s"] /
                                                     runs[f"rclone_{direction}"]["mib_s"], 3)
                        for kind, runs in result["runs"].items() for direction in ("up", "down")
                        if f"nextcloudcmd_{direction}" in runs and f"rclone_{direction}" in runs}
    for name, same in result["identical"].items():
        if not same:
            result["failed"][f"{name} download"] = "the files synced down differ from the source"
    return result


def nextcloud_rows(nc: dict, add, verdict) -> None:
    """Rows of the table: per set and direction nextcloudcmd's MiB/s beside rclone's, the
    no-change re-sync, the server's peak RSS."""
    if "not_available" in nc:
        add("nextcloudcmd beside rclone /dav/", f"not available: {nc['not_available']}", "", "n/a")
        return
    sizes = nc["sizes"]
    labels = {"small": f"{sizes['small_files']:,} × {sizes['small_kib']} KiB",
              "big": f"one {sizes['big_mib']} MiB file"}
    bound = f"≥ {TARGETS['nextcloud_ratio']}× rclone"
    for kind, runs in nc["runs"].items():
        for direction in ("up", "down"):
            label = f"nextcloudcmd {labels[kind]} {direction} (MiB/s)"
            key = f"nextcloud_{kind}_{direction}_ratio"
            failure = nc["failed"].get(f"{kind} nextcloudcmd_{direction}") or \
                nc["failed"].get(f"{kind} rclone_{direction}")
            if failure:
                add(label, f"failed: {failure.strip().splitlines()[-1][:200]}", bound, "FAIL", key, False)
                continue
            ratio = nc["ratios"][f"{kind} {direction}"]
            passed = ratio >= TARGETS["nextcloud_ratio"]
            add(f"{label}; rclone /dav/ {runs[f'rclone_{direction}']['mib_s']}", runs[f"nextcloudcmd_{direction}"]
                ["mib_s"], bound, f"{ratio_text(ratio)} {verdict(passed)}", key, passed)
    same = all(nc["identical"].values()) and bool(nc["identical"])
    add("  every file synced down by either client equals the source", "yes" if same else "NO", "yes",
        verdict(same), "nextcloud_identical", same)
    resync = nc.get("resync")
    if resync:
        passed = resync["no_change_s"] < TARGETS["nextcloud_resync_s"]
        add(f"nextcloudcmd no-change re-sync of a {resync['files']:,}-file tree (s; the first sync "
            f"{resync['first_sync_files_s']} files/s down)", resync["no_change_s"],
            f"< {TARGETS['nextcloud_resync_s']}", verdict(passed), "nextcloud_resync_s", passed)
    elif "resync" in nc["failed"]:
        add("nextcloudcmd no-change re-sync (s)", f"failed: {nc['failed']['resync'].strip().splitlines()[-1][:200]}",
            f"< {TARGETS['nextcloud_resync_s']}", "FAIL", "nextcloud_resync_s", False)
    if nc.get("server_peak_rss_mib") is not None:
        passed = nc["server_peak_rss_mib"] < TARGETS["nextcloud_rss_mib"]
        add("  gunicorn worker peak RSS while nextcloudcmd syncs (MiB)", nc["server_peak_rss_mib"],
            f"< {TARGETS['nextcloud_rss_mib']}", verdict(passed), "nextcloud_server_peak_rss_mib", passed)
