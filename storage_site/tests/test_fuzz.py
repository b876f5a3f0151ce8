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
from hypothesis import settings as hypothesis_settings
from schemathesis.checks import content_type_conformance, not_a_server_error, response_schema_conformance

import storage_site.testing.fuzz_hooks  # noqa: F401  (tus bodies are raw bytes)
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


# Built at collection: the schema view needs no database.
schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", get_wsgi_application())


@schema.parametrize()
@hypothesis_settings(max_examples=int(os.environ.get("FUZZ_EXAMPLES", "8")), deadline=None, derandomize=True,
                     suppress_health_check=list(HealthCheck))
@pytest.mark.django_db
def test_operation_never_fails_and_matches_schema(case, fuzz_headers):
    case.call_and_validate(headers=fuzz_headers,
                           checks=[not_a_server_error, response_schema_conformance, content_type_conformance])


# --- from outside: schemathesis against a real server -------------------------------------

FUZZ_MAX_TIME = int(os.environ.get("FUZZ_MAX_TIME", "150"))
# Errors of the tool itself, not answers of the server: CPython 3.11's ast module is not
# thread-safe, and hypothesis parses lambdas' source while the two workers generate cases.
_TOOL_ERRORS = ("AST constructor recursion depth mismatch",)


@pytest.mark.django_db(transaction=True)
def test_live_server_never_fails(request, tmp_path, capsys):
    """schemathesis's command line, as an outside tester runs it, against gunicorn (two
    workers, threads) on this run's configuration, signed in: the examples, coverage and
    fuzzing phases, two concurrent workers, at most FUZZ_MAX_TIME seconds, and not one
    server error (nor a dropped connection). Its summary is printed with the test output
    and the report (text, junit, ndjson) kept in FUZZ_REPORT_DIR."""
    import subprocess
    import sys
    from pathlib import Path
    from xml.etree import ElementTree

    from django.conf import settings

    from storage_site.testing.server import LiveServer, uses_sqlite

    if not uses_sqlite() and settings.CELERY_BROKER_URL:
        request.getfixturevalue("celery_worker")  # the production configuration: tasks on a real worker
    configuration = "embedded" if uses_sqlite() else "production"
    report_dir = Path(os.environ.get("FUZZ_REPORT_DIR", settings.BASE_DIR / "var" / "fuzz-report")) / configuration
    report_dir.mkdir(parents=True, exist_ok=True)
    junit = report_dir / "junit.xml"
    with LiveServer(tmp_path / "server", workers=2, threads=4) as server:
        token = server.sign_in("fuzzer@example.com")
        command = [
            str(Path(sys.executable).parent / "st"), "run", f"{server.url}/api/schema/?format=json",
            "--phases", "examples,coverage,fuzzing", "--workers", "2", "--checks", "not_a_server_error",
            "--max-time", str(FUZZ_MAX_TIME), "--max-examples", os.environ.get("FUZZ_LIVE_EXAMPLES", "10"),
            "--seed", "20", "--request-timeout", "60", "--suppress-health-check", "all",
            "--exclude-path", "/api/logout",  # signing the fuzzer out would leave the rest unauthenticated
            "--header", f"Authorization: Bearer {token}", "--output-sanitize", "true",
            "--report", "junit,ndjson", "--report-dir", str(report_dir), "--report-junit-path", str(junit),
            "--report-ndjson-path", str(report_dir / "events.ndjson"),
        ]
        env = {**os.environ, "NO_COLOR": "1", "SCHEMATHESIS_HOOKS": "storage_site.testing.fuzz_hooks",
               "PYTHONPATH": str(settings.BASE_DIR)}
        run = subprocess.run(command, capture_output=True, text=True, timeout=FUZZ_MAX_TIME + 300, env=env,
                             cwd=tmp_path)
        server_log = server.log()
    output = run.stdout + run.stderr
    (report_dir / "schemathesis.txt").write_text(output)
    with capsys.disabled():
        summary = output[output.rfind("SUMMARY"):] if "SUMMARY" in output else output[-4000:]
        print(f"\n=== schemathesis against gunicorn ({configuration}); report in {report_dir}\n{summary}")
    assert junit.exists(), output[-8000:]
    problems = [f"{case.get('name')}: {(item.text or '').strip()[:500]}"
                for case in ElementTree.parse(junit).iter("testcase")
                for item in [*case.iter("failure"), *case.iter("error")]
                if not any(known in (item.text or "") for known in _TOOL_ERRORS)]
    assert problems == [], "\n\n".join(problems)[:8000] + "\n--- server log:\n" + server_log[-4000:]
