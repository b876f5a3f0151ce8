"""Events of the files domain that higher apps (previews, backups) react to.

Higher apps connect receivers in their `AppConfig.ready()`; files never imports
them (dependencies point one way, docs/architecture.md). Every signal is sent after the
database transaction that made the change has committed, with `send_robust`: a
receiver that fails (the broker is down, say) is logged and never undoes or fails
the change, nor keeps the other receivers from running.
"""

from django.dispatch import Signal

# A file's content was stored: a new file or a new version.
# kwargs: node (folders.Node), blob (files.Blob), user (who pays), created (bool: new file),
# upload_id (the files.UploadSession pk it completes, or None for a one-request upload),
# source (that session's UploadSource, or ""), head (the content's first bytes when the upload saw
# them on the way, else None: previews tell a kind from them without reading the object)
file_committed = Signal()

# A chunked upload ended without a file.
# kwargs: session (files.UploadSession), code (str), message (str)
upload_failed = Signal()

# A copy of a node was given to another user (FileAgo share_copy_with).
# kwargs: node (the recipient's copy), sharer (User), recipient (User)
file_shared = Signal()
