"""The dashboard, analytics and admin endpoints through the HTTP API."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import Role, User
from files.tests.helpers import upload, usage

from .helpers import backdate, png, upload_kinds

pytestmark = pytest.mark.django_db

ADMIN_GETS = ["/api/dashboard/admin", "/api/admin/users", "/api/admin/system/stats", "/api/admin/storage-analytics"]


@pytest.fixture
def admin_user(make_user):
    return make_user(role=Role.ADMIN)


@pytest.fixture
def admin_client(client_for, admin_user):
    return client_for(admin_user)


def data(resp, status: int = 200):
    assert resp.status_code == status, resp.content
    body = resp.json()
    assert body["success"] is True
    return body["data"]


def error(resp, status: int) -> str:
    assert resp.status_code == status, resp.content
    body = resp.json()
    assert body["success"] is False
    return body["error"]["code"]


# --- who may call what -------------------------------------------------------------------

def test_clients_get_insufficient_role_on_admin_endpoints(auth_client, user):
    for path in ADMIN_GETS:
        assert error(auth_client.get(path), 403) == "INSUFFICIENT_ROLE", path
    resp = auth_client.put(f"/api/admin/users/{user.uuid}/storage", {"storageQuota": 10**12}, format="json")
    assert error(resp, 403) == "INSUFFICIENT_ROLE"
    assert User.objects.get(pk=user.pk).storage_quota_override is None


def test_anonymous_callers_need_a_token(api_client):
    for path in ADMIN_GETS + ["/api/dashboard/client", "/api/analytics/usage", "/api/user/folder-info"]:
        assert error(api_client.get(path), 401) == "NO_TOKEN", path


def test_client_dashboard_is_for_clients(admin_client, auth_client):
    assert error(admin_client.get("/api/dashboard/client"), 403) == "INSUFFICIENT_ROLE"
    assert error(auth_client.get("/api/dashboard/admin"), 403) == "INSUFFICIENT_ROLE"
    assert auth_client.get("/api/dashboard/client").status_code == 200


# --- client dashboard, analytics, folder info: own data only -----------------------------------

def test_client_dashboard_shows_only_my_files_and_usage(auth_client, other_client, user):
    sizes = upload_kinds(auth_client)
    theirs = upload(other_client, "their-secret.txt", b"other user's bytes", content_type="text/plain")
    upload(auth_client, "gone.txt", b"to the trash", content_type="text/plain")
    gone = auth_client.get("/api/files/list", {"ordering": "-createdAt"}).json()["data"]["items"][0]
    auth_client.delete(f"/api/files/{gone['id']}/delete")

    board = data(auth_client.get("/api/dashboard/client"))
    assert board["user"]["id"] == str(user.uuid)
    assert board["storage"] == {**usage(auth_client), "usagePercent": board["storage"]["usagePercent"]}
    mine = sum(sizes.values())
    assert board["storage"]["live"] == mine and board["storage"]["trash"] == len(b"to the trash")
    assert board["stats"]["files"] == 4 and board["stats"]["bytes"] == mine
    assert board["stats"]["trashedEntries"] == 1
    by_category = {row["category"]: row for row in board["byCategory"]}
    assert by_category["image"] == {"category": "image", "files": 1, "bytes": sizes["image"]}
    assert by_category["document"]["files"] == 2 and by_category["document"]["bytes"] == sizes["document"]
    assert by_category["video"]["files"] == 0
    names = [f["name"] for f in board["recentFiles"]]
    assert sorted(names) == ["bundle.zip", "notes.txt", "photo.png", "report.pdf"]
    assert theirs["name"] not in names and "gone.txt" not in names

    other = data(other_client.get("/api/dashboard/client"))
    assert [f["name"] for f in other["recentFiles"]] == ["their-secret.txt"]
    assert other["stats"]["files"] == 1 and other["storage"]["live"] == len(b"other user's bytes")


def test_usage_analytics_by_type_and_over_time(auth_client, other_client):
    sizes = upload_kinds(auth_client)
    old = upload(auth_client, "old.txt", b"from last week", content_type="text/plain")
    backdate(old["id"], 6)
    upload_kinds(other_client, "-theirs")  # must not show up

    result = data(auth_client.get("/api/analytics/usage", {"days": 7}))
    assert result["days"] == 7
    by_type = {row["category"]: (row["files"], row["bytes"]) for row in result["byType"]}
    assert by_type["image"] == (1, sizes["image"])
    assert by_type["document"] == (3, sizes["document"] + len(b"from last week"))
    assert by_type["archive"] == (1, sizes["archive"])
    days = result["overTime"]
    assert len(days) == 7
    assert days[-1]["date"] == timezone.now().date().isoformat()
    assert (days[0]["files"], days[0]["bytes"]) == (1, len(b"from last week"))
    assert (days[-1]["files"], days[-1]["bytes"]) == (4, sum(sizes.values()))
    assert days[-1]["totalBytes"] == sum(sizes.values()) + len(b"from last week")
    assert days[0]["totalBytes"] == len(b"from last week")

    # The older upload leaves a 3-day window, but still counts in the running total.
    short = data(auth_client.get("/api/analytics/usage", {"days": 3}))["overTime"]
    assert sum(day["files"] for day in short) == 4
    assert short[0]["totalBytes"] == len(b"from last week")


@pytest.mark.parametrize("days", ["0", "367", "abc", "-1"])
def test_usage_analytics_rejects_bad_days(auth_client, days):
    assert error(auth_client.get("/api/analytics/usage", {"days": days}), 400) == "VALIDATION_ERROR"


def test_folder_info_counts_the_objects_my_files_reference(auth_client, other_client, user):
    upload(auth_client, "a.bin", b"same bytes")
    upload(auth_client, "b.bin", b"same bytes")  # stored once
    upload(auth_client, "c.bin", b"other bytes")
    upload(auth_client, "c.bin", b"other bytes, v2")  # a new version: one more object
    upload(other_client, "x.bin", b"same bytes")  # shared with the first user, not theirs to count twice
    upload(other_client, "y.bin", b"only theirs")

    info = data(auth_client.get("/api/user/folder-info"))
    assert info["storageBackend"] in ("local", "s3")
    if info["storageBackend"] == "s3":
        assert info["bucket"] == settings.STORAGES["default"]["OPTIONS"]["bucket_name"]
    else:
        assert info["bucket"] is None
    assert info["keyPrefix"] == "blobs/" and info["userId"] == str(user.uuid)
    assert info["objectCount"] == 3
    assert info["objectBytes"] == len(b"same bytes") + len(b"other bytes") + len(b"other bytes, v2")
    assert info["versionCount"] == 4
    assert info["logicalBytes"] == usage(auth_client)["used"]

    theirs = data(other_client.get("/api/user/folder-info"))
    assert (theirs["objectCount"], theirs["versionCount"]) == (2, 2)


# --- admin: users ---------------------------------------------------------------------------

def test_admin_lists_searches_filters_and_pages_users(admin_client, admin_user, make_user):
    alice = make_user(username="alice", full_name="Alice Liddell", email="alice@wonder.land")
    bob = make_user(username="bob", full_name="Bob Builder")
    carol = make_user(username="carol", full_name="Carol Singer")
    User.objects.filter(pk=carol.pk).update(is_active=False, plan="pro")
    User.objects.filter(pk=bob.pk).update(storage_used=1234)

    listing = data(admin_client.get("/api/admin/users"))
    assert listing["pagination"]["total"] == 4
    assert {u["username"] for u in listing["items"]} == {"alice", "bob", "carol", admin_user.username}
    row = next(u for u in listing["items"] if u["username"] == "bob")
    assert row["storageUsed"] == 1234 and row["storageQuota"] == settings.DEFAULT_STORAGE_QUOTA

    assert [u["username"] for u in data(admin_client.get("/api/admin/users", {"q": "wonder"}))["items"]] == ["alice"]
    assert [u["username"] for u in data(admin_client.get("/api/admin/users", {"q": "BUILDER"}))["items"]] == ["bob"]
    phone = alice.phone[-6:]
    assert [u["username"] for u in data(admin_client.get("/api/admin/users", {"q": phone}))["items"]] == ["alice"]
    admins = data(admin_client.get("/api/admin/users", {"role": "admin"}))["items"]
    assert [u["id"] for u in admins] == [str(admin_user.uuid)]
    inactive = data(admin_client.get("/api/admin/users", {"isActive": "false"}))["items"]
    assert [u["username"] for u in inactive] == ["carol"]
    assert [u["username"] for u in data(admin_client.get("/api/admin/users", {"plan": "pro"}))["items"]] == ["carol"]
    biggest = data(admin_client.get("/api/admin/users", {"ordering": "-storageUsed", "pageSize": 1}))
    assert [u["username"] for u in biggest["items"]] == ["bob"]
    assert biggest["pagination"] == {"page": 1, "pageSize": 1, "total": 4, "totalPages": 4, "hasNext": True}
    page2 = data(admin_client.get("/api/admin/users", {"pageSize": 3, "page": 2}))
    assert len(page2["items"]) == 1 and page2["pagination"]["hasNext"] is False

    assert error(admin_client.get("/api/admin/users", {"role": "owner"}), 400) == "VALIDATION_ERROR"
    assert error(admin_client.get("/api/admin/users", {"page": 9}), 404) == "NOT_FOUND"


def test_admin_sets_a_quota_the_upload_path_obeys_and_clears_it(admin_client, auth_client, user):
    upload(auth_client, "a.bin", b"x" * 100)
    resp = admin_client.put(f"/api/admin/users/{user.uuid}/storage", {"storageQuota": 150}, format="json")
    body = data(resp)
    assert (body["storageQuota"], body["storageQuotaOverride"], body["storageUsed"]) == (150, 150, 100)
    assert usage(auth_client)["quota"] == 150
    assert error(auth_client.post("/api/files/upload", {"file": _file(b"y" * 60)}, format="multipart"),
                 413) == "STORAGE_QUOTA_EXCEEDED"
    upload(auth_client, "fits.bin", b"y" * 40)

    cleared = data(admin_client.put(f"/api/admin/users/{user.uuid}/storage", {"storageQuota": None}, format="json"))
    assert cleared["storageQuotaOverride"] is None
    assert cleared["storageQuota"] == settings.DEFAULT_STORAGE_QUOTA == usage(auth_client)["quota"]


def _file(content: bytes):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile("big.bin", content)


@pytest.mark.parametrize("body", [{"storageQuota": -1}, {"storageQuota": "lots"}, {}, {"storageQuota": 2**63},
                                  {"storageQuota": 1.5}])
def test_admin_quota_input_is_validated(admin_client, user, body):
    resp = admin_client.put(f"/api/admin/users/{user.uuid}/storage", body, format="json")
    assert error(resp, 400) == "VALIDATION_ERROR"
    assert User.objects.get(pk=user.pk).storage_quota == settings.DEFAULT_STORAGE_QUOTA


@pytest.mark.parametrize("user_id", ["00000000-0000-0000-0000-000000000000", "not-a-uuid", "42"])
def test_admin_quota_for_an_unknown_user_is_404(admin_client, user_id):
    resp = admin_client.put(f"/api/admin/users/{user_id}/storage", {"storageQuota": 5}, format="json")
    assert error(resp, 404) == "NOT_FOUND"


# --- admin: system-wide figures ------------------------------------------------------------------

def test_admin_dashboard_adds_up_every_user(admin_client, auth_client, other_client, user, other_user):
    mine = upload_kinds(auth_client)
    theirs = upload_kinds(other_client, "-b")
    upload(other_client, "copy.png", png(1), content_type="image/png")  # same bytes as the first user's photo

    board = data(admin_client.get("/api/dashboard/admin"))
    system = board["system"]
    assert system["users"]["total"] == 3 and system["users"]["admins"] == 1 and system["users"]["clients"] == 2
    total = sum(mine.values()) + sum(theirs.values()) + len(png(1))
    assert system["nodes"]["files"] == 9 and system["nodes"]["bytes"] == total
    assert system["storage"]["logicalBytes"] == total == system["users"]["usedBytes"]
    assert system["storage"]["dedupSavedBytes"] == len(png(1))
    assert system["storage"]["objects"] == 8
    assert board["users"]["liveSessions"] == 3
    assert board["users"]["byPlan"] == [{"plan": "free", "users": 3, "usedBytes": total}]
    assert board["users"]["topByUsage"][0]["id"] == str(other_user.uuid)
    assert board["users"]["recent"][0]["username"] in {user.username, other_user.username}
    images = next(row for row in board["files"]["byCategory"] if row["category"] == "image")
    assert images["files"] == 3
    assert len(board["files"]["uploadsPerDay"]) == 14
    assert board["files"]["uploadsPerDay"][-1]["files"] == 9


def test_system_stats_report_figures_and_health(admin_client, auth_client):
    upload(auth_client, "a.txt", b"abc", content_type="text/plain")
    stats = data(admin_client.get("/api/admin/system/stats"))
    assert stats["nodes"]["files"] == 1 and stats["storage"]["storedBytes"] == 3
    assert stats["health"]["database"]["status"] == "ok"
    assert stats["health"]["storage"]["status"] == "ok"
    broker = "ok" if settings.CELERY_BROKER_URL else "not configured"
    assert stats["health"]["broker"]["status"] == broker
    assert stats["healthy"] is (stats["health"]["workers"]["status"] != "error")


def test_system_stats_show_a_broken_broker_and_storage(admin_client, settings, tmp_path):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:9/0"  # nothing listens there
    settings.STORAGES = {**settings.STORAGES, "default": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(tmp_path / "no" / "such" / "media")}}}
    stats = data(admin_client.get("/api/admin/system/stats"))
    assert stats["healthy"] is False
    assert stats["health"]["database"]["status"] == "ok"
    for part in ["storage", "broker", "workers"]:
        assert stats["health"][part]["status"] == "error", part
        assert stats["health"][part]["detail"]


def test_storage_analytics_by_type_user_and_growth(admin_client, auth_client, other_client, user, other_user):
    mine = upload_kinds(auth_client)
    old = upload(other_client, "old.bin", b"z" * 500)
    backdate(old["id"], 10)

    result = data(admin_client.get("/api/admin/storage-analytics", {"days": 14, "top": 1}))
    assert result["days"] == 14
    assert [(row["id"], row["usedBytes"], row["files"]) for row in result["byUser"]] == [(str(other_user.uuid), 500, 1)]
    both = data(admin_client.get("/api/admin/storage-analytics", {"top": 5}))["byUser"]
    assert [(row["id"], row["usedBytes"], row["files"]) for row in both][:2] == [
        (str(other_user.uuid), 500, 1), (str(user.uuid), sum(mine.values()), 4)]
    other = {row["category"]: row for row in result["byType"]}["other"]
    assert (other["files"], other["bytes"]) == (1, 500)
    growth = result["growth"]
    assert len(growth) == 14
    ten_days_ago = (timezone.now() - timedelta(days=10)).date().isoformat()
    day = next(row for row in growth if row["date"] == ten_days_ago)
    assert (day["files"], day["bytes"], day["storedBytes"]) == (1, 500, 500)
    assert growth[-1]["totalBytes"] == growth[-1]["totalStoredBytes"] == 500 + sum(mine.values())
    assert growth[0]["totalBytes"] == 0

    two = data(admin_client.get("/api/admin/storage-analytics", {"days": 2}))
    assert two["growth"][0]["totalBytes"] == 500  # older bytes are the starting point
    assert error(admin_client.get("/api/admin/storage-analytics", {"top": 0}), 400) == "VALIDATION_ERROR"


# --- a constant number of queries, whatever the data ------------------------------------------

def _queries(client, path: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(path).status_code == 200, path
    return len(captured)


def _grow(client_for, make_user, users: int, files_each: int) -> None:
    for n in range(users):
        client = client_for(make_user())
        for m in range(files_each):
            upload(client, f"f{m}.txt", f"{n}-{m}".encode(), content_type="text/plain")


def test_dashboards_cost_the_same_queries_for_more_data(admin_client, auth_client, client_for, make_user):
    upload(auth_client, "one.txt", b"1", content_type="text/plain")
    admin_paths = ["/api/dashboard/admin", "/api/admin/system/stats", "/api/admin/storage-analytics",
                   "/api/admin/users"]
    own_paths = ["/api/dashboard/client", "/api/analytics/usage", "/api/user/folder-info"]
    before = {path: _queries(admin_client, path) for path in admin_paths}
    before.update({path: _queries(auth_client, path) for path in own_paths})

    _grow(client_for, make_user, users=4, files_each=3)
    for m in range(5):
        upload(auth_client, f"more{m}.txt", f"more {m}".encode(), content_type="text/plain")
    after = {path: _queries(admin_client, path) for path in admin_paths}
    after.update({path: _queries(auth_client, path) for path in own_paths})
    assert after == before


def test_query_budget_of_the_admin_dashboard(admin_client, django_assert_max_num_queries):
    # Authentication (user and session) plus the dashboard's aggregates.
    with django_assert_max_num_queries(16):
        admin_client.get("/api/dashboard/admin")
