"""What the processes under test cost: /proc sampling of RSS and CPU time."""

import contextlib
import os
import subprocess
import threading
import time


def proc_children(pid: int) -> list[int]:
    kids = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as fh:
                kids += [int(x) for x in fh.read().split()]
        return kids
    except OSError:
        pass
    try:  # kernels without CONFIG_PROC_CHILDREN
        out = subprocess.run(["ps", "--ppid", str(pid), "-o", "pid="], capture_output=True, text=True, timeout=5)
        return [int(x) for x in out.stdout.split()]
    except (OSError, subprocess.SubprocessError):
        return []


def proc_status(pid: int) -> dict:
    """VmRSS and VmHWM (the kernel's own peak-RSS mark) in MiB."""
    values = {}
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith(("VmRSS:", "VmHWM:")):
                    key, kb = line.split()[:2]
                    values[key[:-1]] = int(kb) / 1024
    except OSError:
        pass
    return values


def proc_cpu_seconds(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except OSError:
        return 0.0


def unix_socket_paths(pid: int) -> set[str]:
    """Paths of the unix sockets process `pid` holds open (from /proc/<pid>/fd and /proc/net/unix)."""
    inodes = set()
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            with contextlib.suppress(OSError):
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
                if link.startswith("socket:["):
                    inodes.add(link[8:-1])
        with open("/proc/net/unix") as fh:
            next(fh)
            return {parts[7] for parts in (line.split() for line in fh)
                    if len(parts) >= 8 and parts[6] in inodes and parts[7].startswith("/tmp/seaweedfs-")}
    except OSError:
        return set()


class RssSampler(threading.Thread):
    """Samples VmRSS of the gunicorn master and every child every `interval` seconds."""

    def __init__(self, master: int, interval: float = 0.02):
        super().__init__(daemon=True)
        self.master, self.interval = master, interval
        self.stop_event = threading.Event()
        self.peaks: dict[int, float] = {}
        self.first: dict[int, float] = {}  # RSS when sampling began
        self.samples = 0
        self.timeline = []  # (seconds, {pid: rss}) every ~0.5 s, for the JSON
        self.cpu_start = {pid: proc_cpu_seconds(pid) for pid in [master, *proc_children(master)]}

    def run(self):
        started = last_kept = time.perf_counter()
        while not self.stop_event.is_set():
            pids = [self.master, *proc_children(self.master)]
            now = {}
            for pid in pids:
                rss = proc_status(pid).get("VmRSS")
                if rss is not None:
                    now[pid] = rss
                    self.first.setdefault(pid, rss)
                    self.peaks[pid] = max(self.peaks.get(pid, 0.0), rss)
            self.samples += 1
            t = time.perf_counter()
            if t - last_kept >= 0.5:
                self.timeline.append((round(t - started, 2), {str(k): round(v, 1) for k, v in now.items()}))
                last_kept = t
            self.stop_event.wait(self.interval)

    def finish(self) -> dict:
        self.stop_event.set()
        self.join(timeout=5)
        workers = [pid for pid in self.peaks if pid != self.master]
        cpu = {pid: round(proc_cpu_seconds(pid) - self.cpu_start.get(pid, 0.0), 2) for pid in self.peaks}
        # The worker that handled the transfer is the one that burnt the CPU.
        busy = max(workers, key=lambda pid: cpu.get(pid, 0.0)) if workers else None
        return {
            "samples": self.samples, "interval_s": self.interval,
            "master_pid": self.master, "master_peak_mib": round(self.peaks.get(self.master, 0.0), 1),
            "workers": {str(pid): {"peak_rss_mib": round(self.peaks[pid], 1), "cpu_s": cpu.get(pid),
                                   "start_rss_mib": round(self.first[pid], 1),
                                   "vm_hwm_mib": round(proc_status(pid).get("VmHWM", 0.0), 1)} for pid in workers},
            "handling_worker_pid": busy,
            "handling_worker_peak_mib": round(self.peaks[busy], 1) if busy else None,
            "handling_worker_start_mib": round(self.first[busy], 1) if busy else None,
            "handling_worker_vm_hwm_mib": round(proc_status(busy).get("VmHWM", 0.0), 1) if busy else None,
            "timeline": self.timeline,
        }
