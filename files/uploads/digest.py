"""A whole-file SHA-256 whose state is kept between requests: each chunk that arrives
in order is added to it as it is recorded, so that `complete` has nothing left to
read. CPython's hashlib cannot save a hash's state, so this drives OpenSSL's
SHA256_Init/Update/Final (the libcrypto that hashlib itself uses) through ctypes; the
state is the plain `SHA256_CTX` struct of openssl/sha.h, kept as bytes. Without
libcrypto `available()` is False and uploads keep the verification read."""

import ctypes
import ctypes.util
import functools

CTX_SIZE = 112  # sizeof(SHA256_CTX): 8 + 2 + 16 + 2 unsigned ints of 32 bits


@functools.cache
def _libcrypto():
    name = ctypes.util.find_library("crypto")
    if not name:
        return None
    try:
        lib = ctypes.CDLL(name)
        for function in (lib.SHA256_Init, lib.SHA256_Update, lib.SHA256_Final):
            function.restype = ctypes.c_int
        lib.SHA256_Init.argtypes = [ctypes.c_void_p]
        lib.SHA256_Update.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t]
        lib.SHA256_Final.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
    except (OSError, AttributeError):
        return None
    return lib


def available() -> bool:
    return _libcrypto() is not None


class ResumableSha256:
    """`ResumableSha256(state)` carries on from a saved `state()` (b"" = a new hash)."""

    def __init__(self, state: bytes = b""):
        self._lib = _libcrypto()
        if len(state) == CTX_SIZE:
            self._ctx = ctypes.create_string_buffer(bytes(state), CTX_SIZE)
        else:
            self._ctx = ctypes.create_string_buffer(CTX_SIZE)
            self._lib.SHA256_Init(self._ctx)

    def update(self, data: bytes) -> None:
        self._lib.SHA256_Update(self._ctx, data, len(data))

    def state(self) -> bytes:
        return self._ctx.raw

    def hexdigest(self) -> str:
        """The digest of what was added so far (this object can go on)."""
        copy = ctypes.create_string_buffer(self._ctx.raw, CTX_SIZE)
        digest = ctypes.create_string_buffer(32)
        self._lib.SHA256_Final(digest, copy)
        return digest.raw.hex()


# name: (OpenSSL's prefix, sizeof its CTX struct, digest bytes); the checksums Nextcloud clients send.
_OTHER_DIGESTS = {"sha1": ("SHA1", 96, 20), "md5": ("MD5", 92, 16)}


class ResumableDigest:
    """ResumableSha256's sibling for SHA-1 and MD5: `ResumableDigest("sha1", state)`."""

    def __init__(self, name: str, state: bytes = b""):
        prefix, self._size, self._digest_size = _OTHER_DIGESTS[name]
        lib = _libcrypto()
        self._update, self._final = getattr(lib, prefix + "_Update"), getattr(lib, prefix + "_Final")
        self._update.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t]
        self._final.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
        if len(state) == self._size:
            self._ctx = ctypes.create_string_buffer(bytes(state), self._size)
        else:
            self._ctx = ctypes.create_string_buffer(self._size)
            getattr(lib, prefix + "_Init")(self._ctx)

    def update(self, data: bytes) -> None:
        self._update(self._ctx, data, len(data))

    def state(self) -> bytes:
        return self._ctx.raw

    def hexdigest(self) -> str:
        copy = ctypes.create_string_buffer(self._ctx.raw, self._size)
        digest = ctypes.create_string_buffer(self._digest_size)
        self._final(digest, copy)
        return digest.raw.hex()
