"""Serializer fields shared by every API."""

from rest_framework import serializers

from .inputs import INT32_MAX, INT64_MAX, INT64_MIN, integer_form_ok

__all__ = ["INT32_MAX", "INT64_MAX", "IntegerField", "int_schema"]


class IntegerField(serializers.IntegerField):
    """An integer input as its column can hold it: bounded to a 64-bit column unless the
    serializer narrows it (`max_value=INT32_MAX` for a PositiveIntegerField), and only in
    plain form: a JSON integer or a string of at most 19 digits. Floats, exponents
    (`8.3e-07`), booleans and overlong digit strings are a 400, as are values past the
    bounds, on SQLite and PostgreSQL alike (instead of an OverflowError or a DataError)."""

    default_error_messages = {"invalid": "A whole number is required."}

    def __init__(self, **kwargs):
        kwargs.setdefault("min_value", INT64_MIN)
        kwargs.setdefault("max_value", INT64_MAX)
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        if isinstance(data, int) and not isinstance(data, bool):
            return data  # the bounds are validators, run next
        if isinstance(data, str) and integer_form_ok(data):
            return int(data)
        self.fail("invalid")


def int_schema(*, min_value: int = 0, max_value: int = INT64_MAX) -> dict:
    """The OpenAPI schema of a bounded integer query parameter or header, for
    `OpenApiParameter(name, int_schema(...))`: clients and the fuzzer see the bounds."""
    return {"type": "integer", "format": "int64" if max_value > INT32_MAX else "int32",
            "minimum": min_value, "maximum": max_value}
