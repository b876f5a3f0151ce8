"""DRF's parsers with the input rules of storage_site.core.inputs: JSON no deeper than
JSON_MAX_DEPTH (checked before decoding), and no control character in any string of a
JSON or form body, keys included. Every view parses with these (the
REST_FRAMEWORK default, and the FileAgo views that choose their own)."""

import json

from django.http import QueryDict
from rest_framework import parsers
from rest_framework.exceptions import ParseError

from . import inputs


def json_decode(text: str):
    """A JSON text, checked: depth first (no recursion into a hostile body), then strings."""
    inputs.json_depth_check(text)
    try:
        data = json.loads(text, parse_constant=_no_constant)
    except (ValueError, RecursionError) as exc:
        raise ParseError(f"JSON parse error - {exc}") from None
    inputs.body_check(data)
    return data


def _no_constant(name: str):
    raise ValueError(f"{name} is not valid JSON")


def form_check(data: QueryDict) -> None:
    # File names need nothing here: Django's multipart parser drops NULs from them, and
    # every name meets the name rule of folders.services.
    inputs.body_check(list(data.lists()))


class JSONParser(parsers.JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        encoding = parsers.get_encoding(parser_context or {})
        raw = stream.read() if stream else b""
        try:
            text = raw.decode(encoding)
        except UnicodeDecodeError as exc:
            raise ParseError(f"JSON parse error - {exc}") from None
        return json_decode(text)


class FormParser(parsers.FormParser):
    def parse(self, stream, media_type=None, parser_context=None):
        data = super().parse(stream, media_type, parser_context)
        form_check(data)
        return data


class MultiPartParser(parsers.MultiPartParser):
    def parse(self, stream, media_type=None, parser_context=None):
        result = super().parse(stream, media_type, parser_context)
        form_check(result.data)
        return result
