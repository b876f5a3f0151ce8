"""glibc malloc settings for the long-lived processes that move large bodies: the
gunicorn workers (deploy/gunicorn.conf.py) and the Celery workers (storage_site/celery.py).

With the defaults a large transfer costs a page fault per 4 KiB several times over:
gunicorn's 1 MiB read-ahead buffers are mmapped, or trimmed off the heap and faulted in
again, on every read (~2x the CPU of an upload; 1,000,000 faults per GiB, ~30,000 with
these settings). Here blocks up to 4 MiB come from the heap, which keeps up to 4 MiB free
at its top; larger blocks (S3 parts) are mappings of their own, returned when freed; two
arenas for all threads. `MALLOC_MMAP_THRESHOLD_`, `MALLOC_TRIM_THRESHOLD_` and
`MALLOC_ARENA_MAX`, when set, win. Not glibc (musl, macOS): nothing is changed.

No Django here: gunicorn's config file imports this before the app is loaded."""

import ctypes
import os

_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD, _M_ARENA_MAX = -1, -3, -8
MiB = 1024 * 1024


def _glibc():
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt, libc.malloc_trim  # noqa: B018 - glibc has both
        return libc
    except (OSError, AttributeError):
        return None


_libc = _glibc()


def malloc_tune() -> bool:
    """Apply the settings to this process (and the processes it forks). True if applied."""
    if _libc is None:
        return False
    _libc.mallopt(_M_MMAP_THRESHOLD, int(os.environ.get("MALLOC_MMAP_THRESHOLD_", 4 * MiB)))
    _libc.mallopt(_M_TRIM_THRESHOLD, int(os.environ.get("MALLOC_TRIM_THRESHOLD_", 4 * MiB)))
    _libc.mallopt(_M_ARENA_MAX, int(os.environ.get("MALLOC_ARENA_MAX", 2)))
    return True


def malloc_release() -> None:
    """Give back the memory malloc keeps after a large transfer: freed blocks in the
    middle of its heaps stay resident otherwise, and the next one starts from there."""
    if _libc is not None:
        _libc.malloc_trim(0)
