"""OC-Checksum: the checksum a Nextcloud client sends with a PUT or with the MOVE that
finishes a chunked upload (`SHA1:<hex>`, `MD5:<hex>`, `ADLER32:<hex>`, `SHA256:<hex>`).
It is verified while the bytes stream, never by reading them again: a one-request PUT
hashes its body as it is read; a chunked upload keeps the running state of each
algorithm between its chunks (they arrive in order). A checksum that does not match is
400 and nothing is kept. A verified checksum is kept for the content it came with,
shown in `oc:checksums` beside the SHA-256 every file has, and sent back as the
`OC-Checksum` of a download, as Nextcloud does."""

import hashlib
import re
import zlib

from storage_site.core.exceptions import ApplicationError

from files.uploads import digest

# Nextcloud's names (upper case) of the checksums verified on a PUT.
ALGORITHMS = ("SHA1", "MD5", "ADLER32", "SHA256")
# The hashes kept running between the chunks of an upload, for the OC-Checksum of its
# MOVE: the desktop app's (the capability's) and rclone's. SHA-256 is the engine's own;
# MD5, three times their cost, is verified on a one-request PUT only.
RUNNING = ("ADLER32", "SHA1")
_HEX_LENGTH = {"SHA1": 40, "MD5": 32, "ADLER32": 8, "SHA256": 64}
# The desktop app writes Adler-32 without leading zeros (`Adler32:5e6f0a1`): it is read as
# a number, and kept and sent back as the client wrote it (the app compares the text).
_UNPADDED = {"ADLER32"}
_CHECKSUM_RE = re.compile(r"^([A-Za-z0-9]+):([0-9a-fA-F]+)$")
# How the desktop app spells each name: it compares them case-sensitively (a checksum it
# downloads is reused for its journal only when its name is the capability's).
SPELLING = {"SHA1": "SHA1", "MD5": "MD5", "ADLER32": "Adler32", "SHA256": "SHA256"}


class ChecksumInvalid(ApplicationError):
    status_code = 400
    code = "INVALID_CHECKSUM"


class ChecksumMismatch(ApplicationError):
    status_code = 400
    code = "CHECKSUM_MISMATCH"
    message = "The content does not match its OC-Checksum; nothing was stored."


def checksum_parse(value: str | None) -> tuple[str, str] | None:
    """`SHA1:<hex>` → ("SHA1", lower-case hex); None when there is none. A client may
    send several separated by spaces: the first of a known kind is taken."""
    if not value or not value.strip():
        return None
    for item in value.split():
        match = _CHECKSUM_RE.match(item)
        if match is None:
            continue
        algorithm, hexdigest = match.group(1).upper(), match.group(2).lower()
        if algorithm in _HEX_LENGTH:
            if len(hexdigest) != _HEX_LENGTH[algorithm] and not (
                    algorithm in _UNPADDED and len(hexdigest) < _HEX_LENGTH[algorithm]):
                raise ChecksumInvalid(f"An {algorithm} checksum has {_HEX_LENGTH[algorithm]} hex digits.")
            return algorithm, hexdigest
    raise ChecksumInvalid("OC-Checksum must be SHA1:<hex>, MD5:<hex>, ADLER32:<hex> or SHA256:<hex>.")


class _Adler32:
    def __init__(self, state: bytes = b""):
        self.value = int.from_bytes(state, "big") if len(state) == 4 else 1

    def update(self, data: bytes) -> None:
        self.value = zlib.adler32(data, self.value)

    def state(self) -> bytes:
        return self.value.to_bytes(4, "big")

    def hexdigest(self) -> str:
        return f"{self.value:08x}"


def matches(checksum: tuple[str, str], hexdigest: str) -> bool:
    """Whether a computed hex digest is the one a client sent."""
    if checksum[0] in _UNPADDED:
        return int(checksum[1], 16) == int(hexdigest, 16)
    return checksum[1] == hexdigest


def running_hash(algorithm: str, state: bytes = b""):
    """A hash of `algorithm` that carries on from `state` (b"" = a new one)."""
    if algorithm == "ADLER32":
        return _Adler32(state)
    if algorithm == "SHA256":
        return digest.ResumableSha256(state)
    return digest.ResumableDigest(algorithm.lower(), state)


def resumable() -> bool:
    """Whether running hashes can be kept between requests (libcrypto is there)."""
    return digest.available()


class VerifiedBody:
    """A request body read through this is hashed as it goes; the read that brings the
    last of `length` bytes raises ChecksumMismatch when they do not match, before the
    reader can make a file of them."""

    def __init__(self, stream, *, checksum: tuple[str, str], length: int):
        self.stream, self.checksum, self.remaining = stream, checksum, length
        self.hash = _Adler32() if checksum[0] == "ADLER32" else hashlib.new(checksum[0].lower())
        if length == 0:
            self._verify()

    def read(self, size: int = -1) -> bytes:
        data = self.stream.read(size)
        if data:
            self.hash.update(data)
            self.remaining -= len(data)
            if self.remaining <= 0:
                self._verify()
        return data

    def readline(self, size: int = -1) -> bytes:
        return self.read(size)

    def _verify(self) -> None:
        if not matches(self.checksum, self.hash.hexdigest()):
            raise ChecksumMismatch()


def body_verify(request) -> str | None:
    """Have a PUT's body verified against its OC-Checksum as it is read (the read of its
    last byte refuses it before it becomes a file); the checksum as it is kept."""
    checksum = checksum_parse(request.META.get("HTTP_OC_CHECKSUM"))
    if checksum is None:
        return None
    length = request.META.get("CONTENT_LENGTH") or "0"
    length = int(length) if length.isascii() and length.isdigit() else 0
    request.environ["wsgi.input"] = VerifiedBody(request.environ["wsgi.input"], checksum=checksum, length=length)
    return render(checksum)


def render(checksum: tuple[str, str]) -> str:
    return f"{SPELLING[checksum[0]]}:{checksum[1]}"
