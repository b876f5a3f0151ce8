"""Fault injection shared by the crash tests and the cluster test (deploy/cluster/).

`gate_setup(target, folder)` is Python code a process runs before Celery starts: it holds the
first call of `module:attribute` (before it runs, or `after` it) until the process is killed,
and writes the process's pid to `folder/entered` so the test knows the work is under way.
`process_kill(pid)` SIGKILLs a process and waits until it is gone.
"""

import os
import signal
import time

_GATE = """
import importlib, os, time
import django
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "storage_site.settings")
django.setup()


def gate(target, folder, after):
    module, _, path = target.partition(":")
    owner = importlib.import_module(module)
    *parents, name = path.split(".")
    for parent in parents:
        owner = getattr(owner, parent)
    original = getattr(owner, name)

    def gated(*args, **kwargs):
        result = original(*args, **kwargs) if after else None
        entered = os.path.join(folder, "entered")
        if not os.path.exists(entered):  # the first call only: say who is here, then hold still
            with open(entered + ".tmp", "w") as fh:
                fh.write(str(os.getpid()))
            os.replace(entered + ".tmp", entered)
            while not os.path.exists(os.path.join(folder, "release")):
                time.sleep(0.05)
        return result if after else original(*args, **kwargs)

    setattr(owner, name, gated)


gate({target!r}, {folder!r}, {after!r})
"""

# Runs Celery's command line after a setup snippet: `python -c <this> -A storage_site worker ...`.
CELERY_AFTER_SETUP = "{setup}\nimport sys\nfrom celery.__main__ import main\nsys.argv[0] = 'celery'\nsys.exit(main())"


def gate_setup(target: str, folder: str, *, after: bool = False) -> str:
    return _GATE.format(target=target, folder=str(folder), after=after)


def process_kill(pid: int) -> None:
    os.kill(pid, signal.SIGKILL)
    for _ in range(200):  # until it is gone (a prefork child is reaped by its parent)
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        if process_zombie(pid):
            return
        time.sleep(0.05)


def process_zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True
