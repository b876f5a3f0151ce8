"""The invariant sweep itself: silent on a healthy installation, and each kind of
damage is caught. A checker that never fails would prove nothing."""

import json
import re
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db.models import F

from accounts.models import User
from files.models import Blob, FileVersion, UploadSession
from files.services.blobs import blob_key_new
from files.tests.helpers import sha, upload
from files.tests.test_chunks_streamvault import init, send
from folders.models import Node
from storage_site.core import storage
from storage_site.testing.invariants import assert_storage_invariants, leftovers_clear, storage_invariants_check

pytestmark = pytest.mark.django_db


@pytest.fixture
def holdings(auth_client, user):
    """A live file, an older version, a trashed file and a half-sent upload."""
    leftovers_clear()
    report = upload(auth_client, "report.txt", b"first draft")
    upload(auth_client, "report.txt", b"second draft")
    gone = upload(auth_client, "gone.txt", b"deleted bytes")
    assert auth_client.delete(f"/api/files/{gone['id']}/delete").status_code == 200
    upload_id = init(auth_client, total=2)["upload_id"]
    send(auth_client, upload_id, 1, b"p" * 100)
    return [(user, report["id"], sha(b"second draft"))]  # files_ok: what the client expects to download


def test_a_healthy_installation_passes(holdings, user):
    assert storage_invariants_check(files_ok=holdings) == []
    used = User.objects.get(pk=user.pk).storage_used
    assert used == len(b"first draft" + b"second draft" + b"deleted bytes")


def _failures(holdings, **options):
    failures = storage_invariants_check(files_ok=holdings, **options)
    assert failures, "the damage went unnoticed"
    return "\n".join(failures)


def test_a_missing_object_is_caught(holdings):
    storage.delete(Blob.objects.get(sha256=sha(b"second draft")).storage_key)
    failures = _failures(holdings)
    assert "blob object missing" in failures
    assert re.search(r"report.txt v2 .*\n.* (fails mid-download|downloads as HTTP 5\d\d)", failures), failures


def test_different_bytes_under_a_key_are_caught(holdings):
    key = Blob.objects.get(sha256=sha(b"second draft")).storage_key
    storage.delete(key)
    storage.put_bytes(key, b"SECOND DRAFT")  # same size, other content
    failures = _failures(holdings)
    assert "does not re-hash" in failures and "downloads with SHA-256" in failures


def test_usage_that_drifted_is_caught(holdings, user):
    User.objects.filter(pk=user.pk).update(storage_used=F("storage_used") - 1)
    assert "storage_used" in _failures(holdings)


def test_a_reservation_nobody_holds_is_caught(holdings, user):
    User.objects.filter(pk=user.pk).update(storage_reserved=F("storage_reserved") + 7)
    assert "open uploads hold" in _failures(holdings)


def test_usage_past_the_quota_is_caught(holdings, user):
    User.objects.filter(pk=user.pk).update(storage_quota=10)
    assert "pass the quota" in _failures(holdings)


def test_a_lost_part_is_caught(holdings):
    part = UploadSession.objects.get().parts.get()
    storage.delete(part.storage_key)
    assert "was acknowledged" in _failures(holdings)


def test_an_object_without_a_row_is_caught_and_the_reconciler_removes_it(holdings):
    key = blob_key_new()
    storage.put_bytes(key, b"nobody's bytes")
    assert f"object {key}" in _failures(holdings)
    assert storage_invariants_check(files_ok=holdings, reconcile=True) == []
    assert not storage.exists(key)


def test_wrong_reference_counts_and_entries_are_caught(holdings):
    Blob.objects.filter(sha256=sha(b"first draft")).update(ref_count=2)
    Node.objects.filter(name="report.txt").update(size=3)
    FileVersion.objects.filter(node__name="gone.txt").update(size=5)
    failures = _failures(holdings)
    assert "ref_count 2, 1 versions name it" in failures
    assert "shows 3 bytes" in failures
    assert "says 5 bytes" in failures and "storage_used" in failures


def test_assert_names_every_failure(holdings, user):
    User.objects.filter(pk=user.pk).update(storage_used=0)
    with pytest.raises(AssertionError, match="storage invariants broken:\n  user .*storage_used 0"):
        assert_storage_invariants(files_ok=holdings)


def test_the_command_reports_and_exits_non_zero(holdings, user, tmp_path):
    path = tmp_path / "files_ok.json"
    path.write_text(json.dumps([{"user": u.username, "id": file_id, "sha256": digest}
                                for u, file_id, digest in holdings]))
    out = StringIO()
    call_command("check_invariants", "--files-ok", str(path), "--json", stdout=out, stderr=StringIO())
    assert json.loads(out.getvalue().splitlines()[-1]) == {"ok": True, "failures": []}

    User.objects.filter(pk=user.pk).update(storage_used=0)
    out = StringIO()
    with pytest.raises(CommandError, match="1 storage invariants broken"):
        call_command("check_invariants", "--user", user.email, "--json", stdout=out, stderr=StringIO())
    assert json.loads(out.getvalue().splitlines()[-1])["ok"] is False
