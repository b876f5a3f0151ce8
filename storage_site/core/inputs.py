"""What every input must be before it can reach the database (docs/input.md).

PostgreSQL refuses a NUL byte in text and a number past its column, where SQLite stores
or raises something else: both become a 400 here, in the calling API's error shape,
before any query runs. The rules live in this module; the places that apply them are
`InputCheckMiddleware` (query string, path, path parameters, headers), the parsers of
`storage_site.core.parsers` (JSON and form bodies, at any depth) and the serializer
field `storage_site.core.fields.IntegerField` (numbers).
"""

import re

from .exceptions import ApplicationError

# Deeper JSON is refused before it is decoded (json.loads would recurse into it).
JSON_MAX_DEPTH = 64

# Column ranges: PositiveIntegerField is a 32-bit `integer` on PostgreSQL, BigIntegerField a `bigint`.
INT32_MAX = 2**31 - 1
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1

# In the query string, the path and its parameters (names, keys, tokens, emails, search
# terms): every C0 control character and DEL. In bodies, what no database column can hold:
# NUL (PostgreSQL refuses it in text) and lone surrogates (no UTF-8 form); other control
# characters in a body are the business of the field that reads it (names meet the name
# rule of folders.services: INVALID_NAME, INVALID_PATH), as free text may span lines.
_CONTROL = re.compile(r"[\x00-\x1f\x7f\ud800-\udfff]")
_CONTROL_IN_TEXT = re.compile(r"[\x00\ud800-\udfff]")
# A header value may hold a tab (RFC 9110 §5.5).
_CONTROL_IN_HEADER = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")

# Digits only, at most 19 of them (a bigint has 19): no sign games, no "1e5", no "1.0".
_INTEGER = re.compile(r"[+-]?[0-9]{1,19}")


class InvalidCharacters(ApplicationError):
    status_code = 400
    code = "INVALID_CHARACTERS"
    message = "Control characters (such as NUL) are not allowed here."


def _refuse(where: str):
    raise InvalidCharacters(f"Control characters (such as NUL) are not allowed in {where}.")


def name_check(value: str, *, where: str) -> None:
    """A name, key, token, email or search term: no control character at all."""
    if _CONTROL.search(value):
        _refuse(where)


def header_check(value: str, *, where: str) -> None:
    if _CONTROL_IN_HEADER.search(value):
        _refuse(where)


def body_check(data, *, where: str = "the request body") -> None:
    """Every string (keys included) of a decoded body, at any depth, walked without recursion."""
    pending = [data]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if _CONTROL_IN_TEXT.search(item):
                _refuse(where)
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, (list, tuple)):
            pending.extend(item)


_STRING_OR_BRACKET = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|(?P<open>[\[{])|(?P<close>[\]}])')


def json_depth_check(text: str, *, limit: int = JSON_MAX_DEPTH) -> None:
    """Refuse JSON nested deeper than `limit` with a scan of its brackets (strings skipped),
    never a recursion: a 2 KB body of 1,000 `[` must not reach the decoder."""
    depth = 0
    for match in _STRING_OR_BRACKET.finditer(text):
        if match.group("open"):
            depth += 1
            if depth > limit:
                raise ApplicationError(f"JSON nested deeper than {limit} levels.", code="MALFORMED_REQUEST")
        elif match.group("close"):
            depth -= 1


def int_parse(raw, *, name: str, min_value: int = 0, max_value: int = INT64_MAX) -> int:
    """A whole number from a query parameter or header, within the column's range."""
    text = raw.strip() if isinstance(raw, str) else ""
    if not _INTEGER.fullmatch(text):
        raise ApplicationError(f"{name}: a whole number is required.", code="VALIDATION_ERROR")
    value = int(text)
    if not min_value <= value <= max_value:
        raise ApplicationError(f"{name}: must be between {min_value} and {max_value}.", code="VALIDATION_ERROR")
    return value


def integer_form_ok(text: str) -> bool:
    return bool(_INTEGER.fullmatch(text.strip()))
