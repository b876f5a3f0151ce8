"""A blob's bytes as a seekable file, through storage_site/core/storage.py only.

Local storage gives the file itself. On S3 the object is read with ranged GETs as
the decoder asks for it (`RangeReader`), so a poster of a 4 GiB video reads the
container index and a few megabytes around the seek point, never the whole object,
and nothing is held in memory beyond the read buffer and one chunk of the response.
"""

import io
import os
from contextlib import contextmanager

from storage_site.core import storage

READ_BUFFER = 1024 * 1024  # bytes the decoder's reads are served from
WINDOW = 8 * 1024 * 1024  # bytes asked for by one GET, streamed in chunks as they are read


class RangeReader(io.RawIOBase):
    """A read-only, seekable raw file over an object of known size.

    Reads that follow each other share one GET of up to WINDOW bytes, streamed: a
    photo is read with one request rather than one per buffer refill (each GET costs
    milliseconds of request signing and a round trip). A read elsewhere (a seek) ends
    the open GET and starts one at the new position."""

    def __init__(self, key: str, size: int):
        super().__init__()
        self.key, self.size, self.position = key, size, 0
        self._chunks = None  # the open GET's chunks not read yet
        self._chunk = memoryview(b"")  # what is left of the current one
        self._at = 0  # the object offset of self._chunk[0]

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
        if self._chunks is not None and self._at != self.position:
            self._stream_close()  # a seek: the open GET is of no use any more
        view = memoryview(buffer).cast("B")
        filled = 0
        while filled < wanted:
            if not self._chunk:
                fresh = self._chunks is None
                if fresh:
                    end = min(self.size, self.position + filled + WINDOW) - 1
                    self._chunks = storage.read_range(self.key, self.position + filled, end)
                chunk = next(self._chunks, None)
                if chunk is None:  # the window is read: the next one, if still wanted, is a new GET
                    self._chunks = None
                    if filled or fresh:  # (a fresh GET with nothing in it: the object is shorter)
                        break
                    continue
                self._chunk = memoryview(chunk)
            take = min(len(self._chunk), wanted - filled)
            view[filled:filled + take] = self._chunk[:take]
            self._chunk = self._chunk[take:]
            filled += take
        self.position += filled
        self._at = self.position
        return filled

    def _stream_close(self) -> None:
        if self._chunks is not None:
            self._chunks.close()  # closes the response
        self._chunks, self._chunk = None, memoryview(b"")

    def close(self) -> None:
        self._stream_close()
        super().close()


@contextmanager
def source_open(key: str, size: int):
    """The object as a buffered binary file, closed on exit."""
    path = storage.local_path(key)
    if path is not None:
        with open(path, "rb") as fh:
            yield fh
        return
    with io.BufferedReader(RangeReader(key, size), buffer_size=READ_BUFFER) as fh:
        yield fh
