"""`make run`'s supervisor: runs the named processes of a Procfile together, each line of
their output prefixed with its name, and stops them all when any one ends or on Ctrl-C
(SIGINT) or SIGTERM.

Unlike honcho (which `make stack` uses) it stops them in order: first every process but
the ones named in --last, then those, so the worker finishes its tasks and acknowledges
them while the broker still runs. Each process is the leader of a process group of its
own; a group gets SIGTERM, then SIGKILL after --grace seconds, so nothing it started
(gunicorn's and Celery's pool processes) outlives the supervisor.

    python deploy/supervise.py -f deploy/Procfile.run --last valkey  valkey web worker beat
"""

import argparse
import os
import signal
import subprocess
import sys
import threading
import time


def procfile(path: str) -> dict[str, str]:
    entries = {}
    with open(path) as lines:
        for line in lines:
            if line.strip() and not line.startswith("#"):
                name, command = line.split(":", 1)
                entries[name.strip()] = command.strip()
    return entries


class Supervisor:
    def __init__(self, grace: float):
        self.grace = grace
        self.processes: dict[str, subprocess.Popen] = {}
        self.width = 6
        self.output = threading.Lock()
        self.ended = threading.Event()

    def say(self, name: str, text: str) -> None:
        with self.output:
            sys.stdout.write(f"{time.strftime('%H:%M:%S')} {name:<{self.width}} | {text}\n")
            sys.stdout.flush()

    def start(self, name: str, command: str) -> None:
        env = {**os.environ, "HONCHO_PROCESS_NAME": name}  # the worker's --hostname reads it
        process = subprocess.Popen(["/bin/sh", "-c", command], env=env, stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        self.processes[name] = process
        self.say("system", f"{name} started (pid={process.pid})")
        threading.Thread(target=self._relay, args=(name, process), daemon=True).start()

    def _relay(self, name: str, process: subprocess.Popen) -> None:
        for line in iter(process.stdout.readline, b""):
            self.say(name, line.decode(errors="replace").rstrip("\n"))
        process.wait()
        self.ended.set()

    def stop(self, names: list[str]) -> None:
        for name in names:
            self._signal(name, signal.SIGTERM)
        deadline = time.monotonic() + self.grace
        for name in names:
            try:
                self.processes[name].wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.say("system", f"{name} still running after {self.grace:g} s: SIGKILL")
            self._signal(name, signal.SIGKILL)  # whatever is left in its group
            self.processes[name].wait()
            self.say("system", f"{name} stopped (rc={self.processes[name].returncode})")

    def _signal(self, name: str, signum: int) -> None:
        try:
            os.killpg(self.processes[name].pid, signum)
        except ProcessLookupError:  # the group is empty already
            pass


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-f", "--procfile", required=True)
    parser.add_argument("--last", action="append", default=[], help="a process stopped after all the others")
    parser.add_argument("--grace", type=float, default=25.0,
                        help="seconds from SIGTERM to SIGKILL (gunicorn's graceful_timeout is 20)")
    parser.add_argument("names", nargs="+")
    args = parser.parse_args()
    entries = procfile(args.procfile)
    supervisor = Supervisor(args.grace)
    supervisor.width = max(len(name) for name in [*args.names, "system"])
    stopping = threading.Event()

    def on_signal(signum, frame):
        stopping.set()
        supervisor.ended.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    for name in args.names:  # the --last ones first: the others need them
        if name in args.last:
            supervisor.start(name, entries[name])
    for name in args.names:
        if name not in args.last:
            supervisor.start(name, entries[name])
    while not supervisor.ended.wait(1):
        pass
    if stopping.is_set():
        supervisor.say("system", "stopping")
    else:
        ended = [name for name, process in supervisor.processes.items() if process.poll() is not None]
        supervisor.say("system", f"{', '.join(ended)} ended: stopping the others")
    supervisor.stop([name for name in args.names if name not in args.last])
    supervisor.stop([name for name in args.names if name in args.last])
    return 0 if stopping.is_set() else 1


if __name__ == "__main__":
    sys.exit(main())
