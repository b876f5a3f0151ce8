"""Fuzzing every operation of the server's own OpenAPI schema with schemathesis,
signed in: no 5xx for any generated input, and answers that match the schema.

Examples per operation are few and derandomised so the run is the same in CI
every time; `FUZZ_EXAMPLES` raises the count for a deeper local run.
"""

import os

import pytest
import schemathesis
from django.core.wsgi import get_wsgi_application
from hypothesis import HealthCheck
from hypothesis import strategies as st
from hypothesis import settings as hypothesis_settings
from schemathesis.checks import content_type_conformance, not_a_server_error, response_schema_conformance

from accounts.tests.factories import UserFactory

@pytest.fixture(autouse=True)
def _keep_the_test_connection():
    """The requests go through Django's real WSGI handler, which closes the database
    connection at the end of a request; inside a test that is the connection holding the
    test's transaction (Django's own test client disconnects this hook the same way)."""
    from django.core import signals
    from django.db import close_old_connections

    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def fuzz_headers(db):
    from rest_framework_simplejwt.tokens import AccessToken  # noqa: F401

    from accounts import services
    from accounts.models import Client

    user = UserFactory()
    sign_in = services._sign_in(user, client=Client.WEB, ip_address="127.0.0.1", user_agent="fuzz")
    return {"Authorization": f"Bearer {sign_in.access}"}


# tus PATCH/POST bodies are raw bytes.
schemathesis.openapi.media_type("application/offset+octet-stream", st.binary(max_size=4096))

# Built at collection: the schema view needs no database.
schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", get_wsgi_application())


@schema.parametrize()
@hypothesis_settings(max_examples=int(os.environ.get("FUZZ_EXAMPLES", "8")), deadline=None, derandomize=True,
                     suppress_health_check=list(HealthCheck))
@pytest.mark.django_db
def test_operation_never_fails_and_matches_schema(case, fuzz_headers):
    case.call_and_validate(headers=fuzz_headers,
                           checks=[not_a_server_error, response_schema_conformance, content_type_conformance])
