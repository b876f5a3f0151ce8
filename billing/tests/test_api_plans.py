"""GET /api/storage-plans (public) and POST /api/admin/plans/create (admin role)."""

import pytest
from django.conf import settings

from billing.models import Plan

pytestmark = pytest.mark.django_db

NEW_PLAN = {"code": "family", "name": "Family", "storageQuota": 200 * 1024**3, "deviceLimit": 6, "price": 49_900,
            "interval": "yearly"}


@pytest.fixture
def admin_client(make_user, client_for):
    return client_for(make_user(role="admin"))


def test_plans_are_public_and_seeded(api_client):
    resp = api_client.get("/api/storage-plans")
    assert resp.status_code == 200
    plans = resp.json()["data"]["plans"]
    assert [p["code"] for p in plans] == ["free", "pro", "enterprise"]
    free, pro, enterprise = plans
    assert free["storageQuota"] == settings.DEFAULT_STORAGE_QUOTA and free["deviceLimit"] == 3 and free["price"] == 0
    assert pro["storageQuota"] == 100 * 1024**3 and pro["deviceLimit"] == 10 and pro["price"] > 0
    assert enterprise["storageQuota"] == 1024**4 and enterprise["deviceLimit"] is None
    assert all(p["currency"] == "INR" and p["interval"] == "monthly" and not p["current"] for p in plans)


def test_signed_in_caller_sees_their_plan(auth_client):
    plans = auth_client.get("/api/storage-plans").json()["data"]["plans"]
    assert [p["code"] for p in plans if p["current"]] == ["free"]


def test_inactive_plans_are_hidden(api_client):
    Plan.objects.filter(code="enterprise").update(is_active=False)
    assert "enterprise" not in [p["code"] for p in api_client.get("/api/storage-plans").json()["data"]["plans"]]


def test_admin_creates_a_plan(admin_client, api_client):
    resp = admin_client.post("/api/admin/plans/create", NEW_PLAN, format="json")
    assert resp.status_code == 201, resp.content
    data = resp.json()["data"]
    assert {k: data[k] for k in NEW_PLAN} == NEW_PLAN and data["currency"] == "INR" and data["isActive"] is True
    listed = [p["code"] for p in api_client.get("/api/storage-plans").json()["data"]["plans"]]
    assert "family" in listed


def test_plan_without_device_limit(admin_client):
    body = {k: v for k, v in NEW_PLAN.items() if k != "deviceLimit"}
    assert admin_client.post("/api/admin/plans/create", body, format="json").json()["data"]["deviceLimit"] is None


def test_duplicate_code_is_409(admin_client):
    resp = admin_client.post("/api/admin/plans/create", {**NEW_PLAN, "code": "PRO"}, format="json")
    assert resp.status_code == 409 and resp.json()["error"]["code"] == "PLAN_EXISTS"
    assert Plan.objects.filter(code="pro").count() == 1


@pytest.mark.parametrize("change", [
    {"code": "no spaces"}, {"code": ""}, {"storageQuota": 0}, {"storageQuota": -5}, {"price": -1},
    {"price": 50}, {"deviceLimit": 0}, {"currency": "USD"}, {"interval": "weekly"}, {"name": ""},
])
def test_invalid_plans_are_400(admin_client, change):
    resp = admin_client.post("/api/admin/plans/create", {**NEW_PLAN, **change}, format="json")
    assert resp.status_code == 400, resp.content
    assert resp.json()["success"] is False
    assert not Plan.objects.filter(name="Family").exists()


def test_client_gets_insufficient_role(auth_client, api_client):
    resp = auth_client.post("/api/admin/plans/create", NEW_PLAN, format="json")
    assert resp.status_code == 403 and resp.json()["error"]["code"] == "INSUFFICIENT_ROLE"
    assert api_client.post("/api/admin/plans/create", NEW_PLAN, format="json").status_code == 401
    assert not Plan.objects.filter(code="family").exists()
