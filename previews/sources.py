"""A blob's bytes as a seekable file, through storage_site/core/storage.py only.

Local storage gives the file itself. On S3 the object is read with ranged GETs as
the decoder asks for it (`RangeReader`), so a poster of a 4 GiB video reads the
container index and a few megabytes around the seek point, never the whole object,
and nothing is held in memory beyond the read buffer.
"""

import io
import os
from contextlib import contextmanager

from storage_site.core import storage

READ_AHEAD = 1024 * 1024  # bytes fetched per GET at least


class RangeReader(io.RawIOBase):
    """A read-only, seekable raw file over an object of known size."""

    def __init__(self, key: str, size: int):
        super().__init__()
        self.key, self.size, self.position = key, size, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.position

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        base = {os.SEEK_SET: 0, os.SEEK_CUR: self.position, os.SEEK_END: self.size}[whence]
        position = base + offset
        if position < 0:
            raise ValueError("negative seek position")
        self.position = position
        return position

    def readinto(self, buffer) -> int:
        wanted = min(len(buffer), self.size - self.position)
        if wanted <= 0:
            return 0
        view = memoryview(buffer).cast("B")
        filled = 0
        for chunk in storage.read_range(self.key, self.position, self.position + wanted - 1):
            take = min(len(chunk), wanted - filled)
            view[filled:filled + take] = chunk[:take]
            filled += take
            if filled >= wanted:
                break
        self.position += filled
        return filled


@contextmanager
def source_open(key: str, size: int):
    """The object as a buffered binary file, closed on exit."""
    path = storage.local_path(key)
    if path is not None:
        with open(path, "rb") as fh:
            yield fh
        return
    with io.BufferedReader(RangeReader(key, size), buffer_size=READ_AHEAD) as fh:
        yield fh
