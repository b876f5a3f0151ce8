"""Sync tokens: a signed (user, journal position) pair.

A token also carries a fingerprint of the journal row at its position, so a
journal that no longer holds that row (a database restored from a backup, rows
pruned, a position past the end) is noticed and answered with a reset instead of a
delta that silently misses changes. A full listing in progress carries its place
in the listing too (`after`)."""

import zlib
from dataclasses import dataclass

from django.core import signing
from django.db.models import TextField
from django.db.models.functions import Cast

from folders.models import Change
from storage_site.core.exceptions import ApplicationError

SALT = "files.sync.cursor"
VERSION = 1


class InvalidSyncToken(ApplicationError):
    status_code = 400
    code = "INVALID_SYNC_TOKEN"
    message = "This sync token is malformed or not valid for this account."


class SyncReset(ApplicationError):
    status_code = 410
    code = "SYNC_RESET"
    message = ("The server can no longer answer from this sync token: drop it and sync from scratch "
               "(call sync/status without syncToken).")

    def __init__(self, message: str | None = None, **kwargs):
        super().__init__(message, details={"reset": True}, **kwargs)


@dataclass(frozen=True)
class Cursor:
    position: int  # the last journal `seq` the client has seen (0: none)
    fingerprint: int  # of the journal row at `position` (0 when position is 0)
    after: tuple[int, int] | None = None  # a full listing in progress: (depth, pk) of its last entry


def stamped(journal):
    """Journal rows with `stamp`, their time as the database's text: a page reads
    hundreds, and text costs a fraction of what a timestamp takes to load."""
    return journal.annotate(stamp=Cast("created_at", TextField()))


def iso_time(stamp: str) -> str:
    """A `stamp` as ISO 8601 in UTC, written as the rest of the API writes times
    ('2024-01-20T14:30:00.120000Z': six digits of microseconds, none when they are 0).
    PostgreSQL writes '2024-01-20 14:30:00.12+00' (the connection is in UTC; trailing zeros
    dropped), SQLite stores '2024-01-20 14:30:00.120000' without the zone."""
    text = stamp.replace(" ", "T", 1)
    for suffix in ("+00:00", "+00", "Z"):
        if text.endswith(suffix):
            text = text[:-len(suffix)]
            break
    seconds, _, fraction = text.partition(".")
    fraction = fraction.ljust(6, "0")[:6]
    return f"{seconds}.{fraction}Z" if fraction.strip("0") else f"{seconds}Z"


def fingerprint(row_id: int, stamp: str) -> int:
    """Tells a journal row from another that took the same position after a restore."""
    return zlib.crc32(f"{row_id}:{stamp}".encode())


def head(user) -> Cursor:
    """The end of the user's journal now."""
    row = stamped(Change.objects.filter(owner=user)).order_by("-seq").values("seq", "id", "stamp").first()
    if row is None:
        return Cursor(0, 0)
    return Cursor(row["seq"], fingerprint(row["id"], row["stamp"]))


def token_dump(user, cursor: Cursor) -> str:
    payload = {"v": VERSION, "u": user.pk, "p": cursor.position, "f": cursor.fingerprint}
    if cursor.after is not None:
        payload["a"] = list(cursor.after)
    return signing.dumps(payload, salt=SALT, compress=True)


def token_load(user, token: str) -> Cursor:
    """The cursor of a token this server signed for this user; anything else is 400."""
    try:
        payload = signing.loads(token, salt=SALT)
    except (signing.BadSignature, ValueError, TypeError, UnicodeError):
        raise InvalidSyncToken() from None
    try:
        if payload["v"] != VERSION or payload["u"] != user.pk:
            raise InvalidSyncToken()
        position, mark = int(payload["p"]), int(payload["f"])
        after = payload.get("a")
        if after is not None:
            depth, pk = (int(value) for value in after)
            after = (depth, pk)
    except (KeyError, TypeError, ValueError):
        raise InvalidSyncToken() from None
    if position < 0:
        raise InvalidSyncToken()
    return Cursor(position, mark, after)


def check_row(cursor: Cursor, row: dict | None) -> None:
    """`row` is the user's journal row at the cursor's position (None: there is none)."""
    if cursor.position == 0:
        return
    if row is None or row["seq"] != cursor.position or fingerprint(row["id"], row["stamp"]) != cursor.fingerprint:
        raise SyncReset()


def check(user, cursor: Cursor) -> None:
    """Refuse a cursor whose position this journal no longer holds (one query)."""
    if cursor.position:
        check_row(cursor, stamped(Change.objects.filter(owner=user, seq=cursor.position))
                  .values("seq", "id", "stamp").first())
