import pytest
import yaml

pytestmark = pytest.mark.django_db


def test_schema_lists_every_sign_in_endpoint(api_client):
    resp = api_client.get("/api/schema/")
    assert resp.status_code == 200
    schema = yaml.safe_load(resp.content)
    for path in ["/api/login", "/api/verify-otp", "/api/resend-otp", "/api/session/check", "/api/session/extend",
                 "/api/logout", "/api/token/refresh", "/storage/api/v5/register/", "/storage/api/v5/login/",
                 "/storage/api/v5/me/", "/auth"]:
        assert path in schema["paths"], path


def test_docs_are_served_from_local_assets(api_client):
    resp = api_client.get("/api/docs/")
    assert resp.status_code == 200
    page = resp.content.decode()
    assert "swagger-ui" in page
    assert "cdn" not in page.lower() and "unpkg" not in page


def test_schema_is_generated_without_warnings():
    from django.core.management import call_command
    from io import StringIO

    err = StringIO()
    call_command("spectacular", "--validate", "--fail-on-warn", stdout=StringIO(), stderr=err)
