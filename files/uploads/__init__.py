"""The upload pipeline: every door (the primary upload, bulk upload, backup,
StreamVault, MegaVault, tus, FileAgo) runs through it and only translates request
and answer shapes. docs/uploads.md describes it.

- `intake`: check the target before any byte is stored; stream and hash the bytes
  to a fresh object, the quota hold's lease renewed as they flow.
- `commit`: stored bytes become a file, or a version, in one short transaction.
- `sessions`, `parts`, `assembly`: chunked uploads (a session per file, its parts,
  the file built from them and committed like any other).
- `http`: the adapter the doors read their requests through.

A new door that has a request body as a stream stores it with `file_receive`; the
names below are the package's public interface (other apps import them from here).
"""

from folders import services as tree

from .assembly import assemblies_resume, ranges, session_assemble, session_complete
from .commit import file_commit, file_upload, stored_upload_commit, version_upload
from .intake import StoredBytes, bytes_store, category_for, mime_for, target_check
from .parts import ReceivedPart, part_accept, part_receive, part_urls, parts_sync
from .sessions import (
    MAX_PARTS, UploadError, checksum_parse, session_abandon, session_cancel, session_error, session_fail, session_get,
    session_size_declare, session_start, session_state, session_target_set, sessions_expire,
)

__all__ = [
    "MAX_PARTS", "ReceivedPart", "StoredBytes", "UploadError", "assemblies_resume", "bytes_store", "category_for",
    "checksum_parse", "file_commit", "file_receive", "file_upload", "mime_for", "part_accept", "part_receive",
    "part_urls", "parts_sync", "ranges", "session_abandon", "session_assemble", "session_cancel",
    "session_complete", "session_error", "session_fail", "session_get", "session_size_declare", "session_start",
    "session_state", "session_target_set", "sessions_expire", "stored_upload_commit", "target_check", "version_upload",
]


def file_receive(*, user, folder=None, name: str = "", stream, size: int, content_type: str | None = None,
                 policy: str = tree.ConflictPolicy.VERSION, target=None, created_by=None):
    """Store `size` bytes read from `stream` (a request body) as the file `name` in
    `folder`, or as a new version of the file `target`, and return the file's node.

    The target is checked before a byte is read (404 for a folder that is not the
    user's, 409 for a name taken under `policy=error`); `user`'s quota is held for
    `size` under a lease renewed while bytes flow; the bytes stream to storage while
    they are hashed (never whole in memory); a body shorter than `size` is 400
    `INCOMPLETE_UPLOAD`. The file is recorded in one transaction; on any failure
    nothing is left: no object, no row, no quota held. `created_by` is who uploads
    when it is not the user who pays (a member writing into a group's folder)."""
    if target is not None:
        return version_upload(user=user, node=target, stream=stream, size=size, content_type=content_type,
                              created_by=created_by)
    return file_upload(user=user, folder=folder, name=name, stream=stream, size=size, content_type=content_type,
                       policy=policy, created_by=created_by)
