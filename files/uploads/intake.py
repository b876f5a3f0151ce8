"""Intake: what every upload does before its bytes become a file. The target (folder,
name, conflict policy) is checked before any byte is stored; the bytes stream to a
fresh object while they are hashed, the request's quota hold renewed as they flow.
"""

import mimetypes
from contextlib import contextmanager
from dataclasses import dataclass

from accounts.quota import ChargedAtCommit, Reservation, quota_available_known, quota_held
from folders import services as tree
from folders.models import Category, Node
from storage_site.core import storage
from storage_site.core.exceptions import ApplicationError, NameConflict, NotFound, QuotaExceeded

from ..services.blobs import blob_key_new


# The first bytes of a body kept as it is read: what a preview needs to know of the
# content (previews.mime.sniff reads as many), told without reading the object back.
HEAD_BYTES = 64


@dataclass
class StoredBytes:
    """An object written under a fresh key, not yet part of any file; `head` its first
    bytes when they were seen on the way (None otherwise)."""

    key: str
    size: int
    sha256: str
    head: bytes | None = None


def category_for(mime_type: str, name: str) -> str:
    major = mime_type.split("/", 1)[0]
    if major in ("image", "video", "audio"):
        return major
    lowered = name.lower()
    if lowered.endswith((".zip", ".tar", ".gz", ".tgz", ".bz2", ".xz", ".7z", ".rar", ".zst")):
        return Category.ARCHIVE
    if mime_type in ("application/pdf", "application/rtf", "application/json") or major == "text" or \
            lowered.endswith((".doc", ".docx", ".xls", ".xlsx", ".ppt", ".pptx", ".odt", ".ods", ".odp", ".md",
                              ".csv", ".txt", ".epub")):
        return Category.DOCUMENT
    return Category.OTHER


def mime_for(name: str, declared: str | None) -> str:
    guessed, _ = mimetypes.guess_type(name)
    if declared and declared not in ("application/octet-stream", "") and "/" in declared and len(declared) < 200:
        return declared.split(";")[0].strip().lower()
    return guessed or "application/octet-stream"


# A body up to this size is read in one piece (one storage chunk, in memory): its
# quota is charged at the commit instead of held while it streams.
SMALL_BODY = storage.CHUNK_SIZE


@contextmanager
def upload_quota(*, user, size: int, purpose: str = "upload"):
    """The quota of an upload of `size` bytes, for the block that stores and commits
    it: held under a lease while a large body streams (`quota_held`); for a small one,
    checked now against what the user row said when it was read (refused before a
    byte is stored, as a hold would) and charged by the commit's own UPDATE."""
    if size > SMALL_BODY:
        with quota_held(user=user, size=size, purpose=purpose) as reservation:
            yield reservation
        return
    if size > quota_available_known(user):
        raise QuotaExceeded()
    yield ChargedAtCommit(user=user, size=size)


class _Intake:
    """A body as it is stored: its reads renew the reservation's lease (bytes are
    flowing) and its first bytes are kept."""

    def __init__(self, stream, reservation: Reservation | None):
        self.stream, self.reservation, self.head = stream, reservation, b""

    def read(self, size: int = -1) -> bytes:
        data = self.stream.read(size)
        if len(self.head) < HEAD_BYTES:
            self.head += data[:HEAD_BYTES - len(self.head)]
        if self.reservation is not None:
            self.reservation.renew()
        return data


def bytes_store(*, stream, size: int, reservation: Reservation | None = None) -> StoredBytes:
    """Stream exactly `size` bytes to a fresh key (the caller holds the quota in
    `reservation`, whose lease the reads renew)."""
    key = blob_key_new()
    intake = _Intake(stream, reservation)
    written, sha256 = storage.put_stream(key, intake, limit=size)
    if written != size:
        storage.delete(key)
        raise ApplicationError(f"Expected {size} bytes, received {written}.", code="INCOMPLETE_UPLOAD")
    return StoredBytes(key, written, sha256, head=intake.head)


def target_check(*, user, folder: Node, name: str, policy: str) -> str:
    """The name `name` will have in `folder`, checked as far as it can be before the
    bytes arrive: the folder is the user's own, live folder; the name is clean; with
    `error` no sibling has it. The commit checks the name again under its lock."""
    if folder.owner_id != user.pk or not folder.is_folder or folder.trashed_at is not None:
        raise NotFound("Folder not found.")
    name = tree.name_clean(name)
    if policy == tree.ConflictPolicy.ERROR and tree.sibling_exists(parent=folder, name=name):
        raise NameConflict(f"'{name}' already exists in this folder.")
    return name
