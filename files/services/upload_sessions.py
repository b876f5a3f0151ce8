"""Moved to files/uploads/ (sessions.py, parts.py, assembly.py); this name stays so
that code written against it keeps working."""

from files.uploads.assembly import (  # noqa: F401
    AssemblyFailed, assemblies_resume, ranges, session_assemble, session_complete,
)
from files.uploads.parts import (  # noqa: F401
    PART_SPOOL_MAX, PartSpool, ReceivedPart, part_accept, part_receive, part_spool_max, part_urls, parts_sync,
)
from files.uploads.sessions import (  # noqa: F401
    MAX_PARTS, UploadError, checksum_parse, session_abandon, session_cancel, session_error, session_fail,
    session_get, session_start, session_state, sessions_expire,
)
