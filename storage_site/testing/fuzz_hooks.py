"""schemathesis hooks for both fuzz runs (in process, and the `st` command line against a
live server through SCHEMATHESIS_HOOKS): tus PATCH/POST bodies are raw bytes."""

import schemathesis
from hypothesis import strategies as st

schemathesis.openapi.media_type("application/offset+octet-stream", st.binary(max_size=4096))
schemathesis.serializer.alias("application/offset+octet-stream", "application/octet-stream")
