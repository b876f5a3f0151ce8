"""The storage invariants: what must hold after any fault, race or load (issue 10).

    from storage_site.testing.invariants import assert_storage_invariants
    assert_storage_invariants(files_ok=[(user, file_id, sha256), ...])

or, against a running installation's database and storage,
`python manage.py check_invariants` (the load benchmark runs it after its run).

One sweep, four families of checks; every failure is one readable line:

1. Bytes. Every blob's object exists with the recorded size, and re-hashes to its
   SHA-256 (`operations.storage_check`, the operators' own check; all blobs are
   re-hashed unless `rehash` limits it). Every part an open upload acknowledged
   still has its object. Every file entry (live, trashed) has its current version,
   whose size and SHA-256 it shows. Every file a client got a 2xx for (`files_ok`)
   downloads through the HTTP API with the SHA-256 the client sent.
2. Usage. For each user: `storage_used` equals what they hold, live + older
   versions + trash (`files.selectors.usage`, the storage-stats split);
   `storage_reserved` equals what their open upload sessions and the requests'
   quota holds hold (0 when nothing is in flight), and no hold has outlived its
   lease; used + reserved never pass the quota.
3. Objects. No object under blobs/ lacks a row (`operations.orphans_find` with no
   grace), and on S3 no multipart upload under blobs/ outlives its upload session
   (S3 keeps and bills the parts of one nobody completed or aborted). With
   `reconcile=True` the reconciler runs first — holds whose lease ran out released
   (`quota_holds_expire`), unreferenced blobs collected,
   orphaned objects deleted (`gc_blobs` with no grace) — so the sweep checks that
   it leaves nothing behind and eats no live byte; without it, any object without
   a row is a leak.
4. References. Each blob's `ref_count` equals the file versions naming it, and each
   version's size is its blob's.

Run it when nothing is in flight: an upload between writing its object and
committing its row looks like an orphan, and a request holding quota like a leak.
Tests share one bucket (or media folder) across the session, so a test that wants
the orphan check to mean "this test leaked nothing" calls `leftovers_clear()` first.
"""

import hashlib
from collections.abc import Iterable
from datetime import timedelta

from django.conf import settings
from django.db.models import Count, F, Sum
from django.test import Client, TestCase
from django.utils import timezone

from accounts.models import QuotaHold, User
from accounts.quota import quota_holds_expire
from files import selectors
from files.models import Blob, FileVersion, UploadPart, UploadSession
from files.services import blobs
from folders.models import Node, NodeKind
from storage_site.core import storage
from storage_site.dashboards import operations

# (user, file id, sha256) of a file a client got a 2xx for and has not deleted since; the file
# id is the primary API's UUID, or a node's pk (StreamVault's file_id).
FileOk = tuple[User, str | int, str]


def storage_invariants_check(*, files_ok: Iterable[FileOk] = (), users: Iterable[User] | None = None,
                             reconcile: bool = False, rehash: int | None = None) -> list[str]:
    """Every broken invariant, one line each; an empty list means all hold.

    `users` limits the per-user checks (usage, file entries) to those users;
    blobs, objects and references are always checked for the whole installation."""
    if reconcile:
        _reconcile()
    scope = User.objects.order_by("pk")
    if users is not None:
        scope = scope.filter(pk__in=[user.pk for user in users])
    scope = list(scope)
    failures = []
    failures += _blobs_stored(rehash=rehash)
    failures += _parts_stored()
    failures += _file_entries(scope)
    failures += _downloads(list(files_ok))
    failures += _usage(scope)
    failures += _orphans()
    failures += _references()
    return failures


def assert_storage_invariants(*, files_ok: Iterable[FileOk] = (), users: Iterable[User] | None = None,
                              reconcile: bool = False, rehash: int | None = None) -> None:
    failures = storage_invariants_check(files_ok=files_ok, users=users, reconcile=reconcile, rehash=rehash)
    assert not failures, "storage invariants broken:\n  " + "\n  ".join(failures)


def leftovers_clear() -> None:
    """Delete every object under blobs/ that no row names, whatever its age, and abort
    the multipart uploads no open upload owns: what earlier tests left in the
    session's storage when their rows were rolled back."""
    with TestCase.captureOnCommitCallbacks(execute=True):
        operations.orphans_collect(grace=timedelta(0))
    operations.multipart_strays_collect(grace=timedelta(0))


def _reconcile() -> None:
    quota_holds_expire()  # the quota of requests that died
    # A test's own transaction never commits: run the on-commit object deletes here.
    with TestCase.captureOnCommitCallbacks(execute=True):
        while blobs.blobs_collect(limit=500) == 500:
            pass
        operations.orphans_collect(grace=timedelta(0))
    operations.multipart_strays_collect(grace=timedelta(0))


# --- 1. bytes ------------------------------------------------------------------------------

def _blobs_stored(*, rehash: int | None) -> list[str]:
    sample = Blob.objects.count() if rehash is None else rehash
    report = operations.storage_check(sample=sample)
    return ([f"blob object missing: {key} ({_blob_users(key)})" for key in report.missing]
            + [f"blob object {key} has {found} bytes, its row says {expected} ({_blob_users(key)})"
               for key, expected, found in report.wrong_size]
            + [f"blob object unreadable: {key} ({problem})" for key, problem in report.unreadable]
            + [f"blob object {key} does not re-hash to its SHA-256 ({_blob_users(key)})"
               for key in report.wrong_hash])


def _blob_users(key: str) -> str:
    """Who loses what: the blob's row and the file versions naming it."""
    blob = Blob.objects.filter(storage_key=key).values("pk", "size", "created_at").first()
    versions = FileVersion.objects.filter(blob__storage_key=key).values_list(
        "node__owner__username", "node__name", "number", "created_at")[:5]
    named = ", ".join(f"{owner}/{name} v{number} at {created:%H:%M:%S.%f}" for owner, name, number, created in versions)
    return f"blob {blob['pk']}, {blob['size']} bytes, made {blob['created_at']:%H:%M:%S.%f}; {named or 'no versions'}"


def _parts_stored() -> list[str]:
    parts = (UploadPart.objects.filter(session__status__in=operations.OPEN_UPLOADS).exclude(storage_key="")
             .values_list("session__uuid", "number", "storage_key", "size"))
    failures = []
    for upload_id, number, key, size in parts.iterator():
        try:
            found = storage.size(key)
        except Exception:
            failures.append(f"part {number} of upload {upload_id} was acknowledged, its object {key} is gone")
            continue
        if found != size:
            failures.append(f"part {number} of upload {upload_id}: object has {found} bytes, row says {size}")
    return failures


def _file_entries(users: list[User]) -> list[str]:
    """Each file entry shows its current version: that row exists, same size and SHA-256."""
    current = {(node_id, number): (size, sha256) for node_id, number, size, sha256 in FileVersion.objects.filter(
        node__owner__in=users).values_list("node_id", "number", "size", "blob__sha256").iterator()}
    failures = []
    nodes = Node.objects.filter(owner__in=users, kind=NodeKind.FILE).values_list("pk", "name", "version", "size",
                                                                                  "sha256")
    for pk, name, version, size, sha256 in nodes.iterator():
        found = current.get((pk, version))
        if found is None:
            failures.append(f"file {pk} ({name!r}) has no row for its current version {version}")
        elif found != (size, sha256):
            failures.append(f"file {pk} ({name!r}) shows {size} bytes {sha256[:12]}…, its version "
                            f"{version} holds {found[0]} bytes {found[1][:12]}…")
    return failures


def _downloads(files_ok: list[FileOk]) -> list[str]:
    """Through the whole HTTP stack (in process), as each file's owner."""
    from accounts.models import Client as SessionClient
    from accounts.services import _sign_in

    clients: dict[int, Client] = {}
    failures = []
    for user, file_id, sha256 in files_ok:
        if user.pk not in clients:
            token = _sign_in(user, client=SessionClient.WEB, ip_address="127.0.0.1", user_agent="invariants").access
            clients[user.pk] = Client(HTTP_AUTHORIZATION=f"Bearer {token}", HTTP_HOST=_host())
        if isinstance(file_id, int):
            file_id = Node.objects.filter(pk=file_id).values_list("uuid", flat=True).first() or file_id
        try:
            status, digest = _download(clients[user.pk], file_id)
        except Exception as exc:  # the body broke off: a client would see a cut transfer
            failures.append(f"file {file_id} of {user.username} fails mid-download: {type(exc).__name__}: {exc}")
            continue
        if status != 200:
            failures.append(f"file {file_id} of {user.username} (a 2xx upload) downloads as HTTP {status}")
        elif digest != sha256:
            failures.append(f"file {file_id} of {user.username} downloads with SHA-256 {digest[:12]}…, "
                            f"uploaded {sha256[:12]}…")
    return failures


def _download(client: Client, file_id) -> tuple[int, str]:
    resp = client.get(f"/api/files/{file_id}/download")
    digest = hashlib.sha256()
    for data in resp.streaming_content if resp.streaming else [resp.content]:
        digest.update(data)
    return resp.status_code, digest.hexdigest()


def _host() -> str:
    allowed = settings.ALLOWED_HOSTS
    return "testserver" if not allowed or "*" in allowed or "testserver" in allowed else allowed[0].lstrip(".")


# --- 2. usage ------------------------------------------------------------------------------

def _usage(users: list[User]) -> list[str]:
    held = dict(UploadSession.objects.filter(owner__in=users, status__in=operations.OPEN_UPLOADS)
                .values_list("owner_id").annotate(total=Sum("reserved")).order_by())
    closed = set(UploadSession.objects.filter(owner__in=users, reserved__gt=0)
                 .exclude(status__in=operations.OPEN_UPLOADS).values_list("uuid", flat=True))
    failures = [f"upload {upload_id} ended but still holds quota" for upload_id in sorted(map(str, closed))]
    requests = dict(QuotaHold.objects.filter(owner__in=users).values_list("owner_id").annotate(total=Sum("size"))
                    .order_by())
    failures += [f"user {hold.owner.username}: a hold of {hold.size} bytes ({hold.purpose}) outlived its lease "
                 f"({hold.lease_until:%H:%M:%S}) and was never released"
                 for hold in QuotaHold.objects.filter(owner__in=users, lease_until__lt=timezone.now())
                 .select_related("owner").order_by("pk")]
    for user in users:
        split = selectors.usage(user)
        holds = split["live"] + split["versions"] + split["trash"]
        if split["used"] != holds:
            failures.append(f"user {user.username}: storage_used {split['used']}, holds {holds} (live "
                            f"{split['live']} + versions {split['versions']} + trash {split['trash']})")
        accounted = held.get(user.pk, 0) + requests.get(user.pk, 0)
        if split["reserved"] != accounted:
            failures.append(f"user {user.username}: storage_reserved {split['reserved']}, open uploads hold "
                            f"{held.get(user.pk, 0)} and requests {requests.get(user.pk, 0)}")
        if split["used"] + split["reserved"] > split["quota"]:
            failures.append(f"user {user.username}: used {split['used']} + reserved {split['reserved']} pass "
                            f"the quota {split['quota']}")
    return failures


# --- 3. objects ----------------------------------------------------------------------------

def _orphans() -> list[str]:
    failures = [f"object {orphan.key} ({orphan.size} bytes) has no row" for orphan in
                operations.orphans_find(grace=timedelta(0))]
    return failures + _stray_multipart_uploads()


def _stray_multipart_uploads() -> list[str]:
    """S3 keeps (and bills) the parts of a multipart upload nobody completed or aborted:
    under blobs/, only open upload sessions may have one."""
    return [f"multipart upload of {stray.key} (started {stray.initiated:%H:%M:%S}) was never completed or aborted"
            for stray in operations.multipart_strays_find(grace=timedelta(0))]


# --- 4. references -------------------------------------------------------------------------

def _references() -> list[str]:
    failures = []
    counted = Blob.objects.annotate(references=Count("versions")).values_list("storage_key", "ref_count",
                                                                              "references")
    for key, ref_count, references in counted.iterator():
        if ref_count != references:
            failures.append(f"blob {key}: ref_count {ref_count}, {references} versions name it")
    mismatched = FileVersion.objects.exclude(size=F("blob__size")).values_list("node_id", "number", "size",
                                                                               "blob__size")
    for node_id, number, size, blob_size in mismatched.iterator():
        failures.append(f"version {number} of file {node_id} says {size} bytes, its blob holds {blob_size}")
    return failures
