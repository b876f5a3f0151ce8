"""What else the machine is doing while a phase runs (so a noisy run can be told apart)."""

import contextlib
import os
import time

import psycopg

from .common import DB_NAME, PG_ADMIN


def _proc_table() -> dict[int, tuple[int, float, str, float]]:
    """pid → (ppid, cpu seconds including reaped children, comm, cpu seconds of its own) for every process."""
    table, tick = {}, os.sysconf("SC_CLK_TCK")
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                raw = fh.read()
        except OSError:
            continue
        comm = raw[raw.index("(") + 1:raw.rindex(")")]
        fields = raw.rsplit(")", 1)[1].split()
        table[int(entry)] = (int(fields[1]), sum(int(x) for x in fields[11:15]) / tick, comm,
                             sum(int(x) for x in fields[11:13]) / tick)
    return table


def _system_busy() -> tuple[float, float]:
    """(CPU seconds the machine was busy, of which stolen by the hypervisor) since boot."""
    with open("/proc/stat") as fh:
        parts = [int(x) for x in fh.readline().split()[1:]]
    user, nice, system, idle, iowait, irq, softirq, steal = (parts + [0] * 8)[:8]
    tick = os.sysconf("SC_CLK_TCK")
    return (user + nice + system + irq + softirq + steal) / tick, steal / tick


def _other_db_xacts() -> int | None:
    with contextlib.suppress(Exception), psycopg.connect(PG_ADMIN) as conn:
        return int(conn.execute("SELECT coalesce(sum(xact_commit + xact_rollback), 0) FROM pg_stat_database "
                                "WHERE datname IS DISTINCT FROM %s", [DB_NAME]).fetchone()[0])
    return None


class Load:
    """CPU the rest of the machine used while a phase ran: system busy time minus this
    benchmark's process tree (client, gunicorn, SeaweedFS, helpers) minus PostgreSQL
    (shared; reported apart). Other sessions' test runs on a shared box show up here."""

    def __init__(self):
        self.wall, self.busy, self.table = time.monotonic(), _system_busy(), _proc_table()
        self.other_xacts = _other_db_xacts()

    def finish(self) -> dict:
        (busy, steal), table = _system_busy(), _proc_table()
        wall, busy, steal = time.monotonic() - self.wall, busy - self.busy[0], steal - self.busy[1]
        ours, grew = {os.getpid()}, True
        while grew:
            grew = False
            for pid, (ppid, *_) in table.items():
                if ppid in ours and pid not in ours:
                    ours.add(pid)
                    grew = True
        before = {pid: row for pid, row in self.table.items()}
        delta = {pid: row[1] - before.get(pid, (0, 0.0))[1] for pid, row in table.items()}
        own = sum(delta[pid] for pid in ours)
        postgres = sum(d for pid, d in delta.items() if table[pid][2] == "postgres" and pid not in ours)
        foreign = max(0.0, busy - steal - own - postgres)
        # Named by their own CPU (not reaped children's: pid 1 inherits every orphan's).
        mine = {pid: row[3] - before.get(pid, (0, 0.0, "", 0.0))[3] for pid, row in table.items()}
        top = sorted(((d, table[pid][2], pid) for pid, d in mine.items()
                      if pid not in ours and table[pid][2] != "postgres" and d > 0.5), reverse=True)[:4]
        return {"wall_s": round(wall, 1), "cpus": os.cpu_count(), "system_busy_cpu_s": round(busy, 1),
                "bench_tree_cpu_s": round(own, 1), "postgres_cpu_s": round(postgres, 1),
                "other_cpu_s": round(foreign, 1), "steal_cpu_s": round(steal, 1),
                # Transactions in other databases of the same PostgreSQL (other users of the server).
                "other_db_xacts": (_other_db_xacts() or 0) - (self.other_xacts or 0), "other_cores": round(foreign / wall, 2) if wall else None,
                "other_top": [{"comm": c, "pid": p, "cpu_s": round(d, 1)} for d, c, p in top],
                "loadavg_end": os.getloadavg()}


def wait_idle(limit: float, threshold: float = 0.5) -> dict:
    """Wait (at most `limit` s) until the 1-minute load average drops below `threshold`."""
    started = time.monotonic()
    while os.getloadavg()[0] >= threshold and time.monotonic() - started < limit:
        time.sleep(5)
    return {"waited_s": round(time.monotonic() - started), "loadavg": os.getloadavg()}
