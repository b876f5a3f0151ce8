"""Moved to files/uploads/ (intake.py, commit.py); this name stays so that code
written against it keeps working. New doors use `files.uploads.file_receive`."""

from files.uploads.commit import file_commit, file_upload, stored_upload_commit, version_upload  # noqa: F401
from files.uploads.intake import StoredBytes, bytes_store, category_for, mime_for, target_check  # noqa: F401
