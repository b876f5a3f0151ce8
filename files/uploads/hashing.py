"""The whole-file SHA-256 of a chunked upload, kept while its parts arrive, so that
`complete` reads back little or nothing.

A part recorded next in order is added to the session's saved hash under the
session's row lock. A part that arrives before the one before it (4 chunks in
flight) is kept spooled on this machine's temporary disk, named by its number and
SHA-256, for a short while: when the gap fills, the part that fills it carries the
hash on through every kept part already recorded. A tus body continues the hash
while it streams (tus bodies arrive in order by the protocol). Whatever is not
covered when `complete` comes (a part kept on another machine, one that came too far
ahead, parts sent straight to S3) is read back from where the hash stopped.
"""

import contextlib
import os
import shutil
import time
from pathlib import Path

from django.conf import settings

from storage_site.core import storage

from ..models import UploadPart, UploadSession
from . import digest

# A part this far ahead of the hashed prefix is not kept: a client whose first part
# never comes must not fill the temporary disk with its whole file.
KEEP_AHEAD = 8
# Kept parts nobody used for this long are dropped (their session reads back instead).
KEEP_SECONDS = 3600


def _kept_dir(session: UploadSession) -> Path:
    return Path(settings.FILE_UPLOAD_TEMP_DIR) / "kept-parts" / str(session.uuid)


def _kept_path(session: UploadSession, number: int, sha256: str) -> Path:
    return _kept_dir(session) / f"{number}-{sha256}"


def hashing_session(session: UploadSession) -> bool:
    """Does this session keep a running hash at all? (Not for parts sent straight to S3.)"""
    return not session.direct and digest.available()


def running_for(session: UploadSession, number: int) -> digest.ResumableSha256 | None:
    """For a body known to be part `number` (tus): the session's hash to continue
    while it streams, when every part before it is hashed; else None."""
    if not hashing_session(session) or session.hashed_parts != number - 1:
        return None
    return digest.ResumableSha256(bytes(session.sha256_state))


def part_keep(session: UploadSession, number: int, received) -> None:
    """Before part `number` is recorded out of order: keep its spooled bytes until the
    gap before it fills (best effort: a full disk only costs the read-back)."""
    ahead = number - session.hashed_parts
    if received.spooled is None or not hashing_session(session) or ahead <= 1 or ahead > KEEP_AHEAD:
        return
    path = _kept_path(session, number, received.sha256)
    partial = path.with_suffix(".partial")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        received.spooled.flush()
        source = received.spooled.fileno()  # on disk already at any part size S3 takes
        with open(partial, "wb") as kept:
            copied = 0
            while copied < received.size:  # copied by the kernel, not through this process
                sent = os.sendfile(kept.fileno(), source, copied, received.size - copied)
                if not sent:
                    raise OSError("the spooled part ended early")
                copied += sent
        os.replace(partial, path)  # whole or not at all
    except OSError:
        with contextlib.suppress(OSError):
            partial.unlink()
    finally:
        received.spooled.seek(0)


def hash_extend(session: UploadSession, number: int, received) -> dict:
    """Under the session's lock, as part `number` is recorded: the changes to the
    session's saved hash. The part is added when it is next in order (from its
    running hash, or its spooled copy); then every kept part that follows and is
    recorded. Anything else leaves the hash where it is."""
    if not hashing_session(session) or session.hashed_parts != number - 1:
        return {}
    if received.running is not None and received.running_base == number - 1:
        running = received.running
    elif received.spooled is not None:
        running = digest.ResumableSha256(bytes(session.sha256_state))
        received.spooled.seek(0)
        running.update_from(received.spooled, storage.CHUNK_SIZE)
        _kept_path(session, number, received.sha256).unlink(missing_ok=True)  # kept in vain: in order after all
    else:
        return {}
    hashed = number
    following = session.parts.filter(number__gt=number, number__lte=number + KEEP_AHEAD)
    for part in following.order_by("number").only("number", "sha256"):
        path = _kept_path(session, part.number, part.sha256)
        if part.number != hashed + 1 or not part.sha256 or not path.exists():
            break
        try:
            with open(path, "rb", buffering=0) as kept:
                running.update_from(kept, storage.CHUNK_SIZE)
        except OSError:  # swept meanwhile: read back at `complete`
            break
        hashed = part.number
        path.unlink(missing_ok=True)
    return {"hashed_parts": hashed, "sha256_state": running.state()}


def hashed_prefix(session: UploadSession, parts: list[UploadPart]) -> tuple[int, digest.ResumableSha256] | None:
    """(bytes covered, the hash so far) when parts 1..hashed_parts are the session's
    first parts and their hash was kept; None when nothing can be reused."""
    if not hashing_session(session) or not session.hashed_parts or len(parts) < session.hashed_parts:
        return None
    covered = parts[:session.hashed_parts]
    if [part.number for part in covered] != list(range(1, session.hashed_parts + 1)):
        return None
    return sum(part.size for part in covered), digest.ResumableSha256(bytes(session.sha256_state))


def file_hash_of(session: UploadSession, parts: list[UploadPart]) -> str:
    """The whole file's SHA-256 when every part was hashed as it arrived, else ''."""
    prefix = hashed_prefix(session, parts)
    if prefix is None or session.hashed_parts != len(parts):
        return ""
    return prefix[1].hexdigest()


def kept_drop(session: UploadSession) -> None:
    """The session ended (a file, or none): its kept parts are of no more use."""
    shutil.rmtree(_kept_dir(session), ignore_errors=True)


def kept_sweep(*, older_than: float = KEEP_SECONDS) -> int:
    """Periodic: drop kept parts of sessions that went quiet (or whose process died)."""
    root = Path(settings.FILE_UPLOAD_TEMP_DIR) / "kept-parts"
    dropped = 0
    if not root.is_dir():
        return 0
    for folder in root.iterdir():
        with contextlib.suppress(OSError):
            if time.time() - folder.stat().st_mtime > older_than:
                shutil.rmtree(folder, ignore_errors=True)
                dropped += 1
    return dropped
