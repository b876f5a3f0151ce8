"""Reads for the dashboards, analytics and the admin API, across every app.

Every figure is an aggregate query (COUNT/SUM, GROUP BY category or day), so a
dashboard costs the same handful of queries whether there are ten files or a
million; the tests pin the counts. Days are UTC calendar days.

What the figures mean:
- `files`/`bytes` of a category: live files and the size of their current version.
- "over time" and "growth": file versions created per day (uploads, new versions
  and copies) among what is still stored; bytes deleted for good leave the history,
  so the cumulative line ends at today's logical total.
- `storedBytes`: physical bytes in the bucket (each distinct content once).
"""

from datetime import date, datetime, time, timedelta

from django.conf import settings
from django.db.models import Count, F, Q, Sum
from django.db.models.functions import Coalesce, TruncDate
from django.utils import timezone

from accounts.models import AuthSession, Role, User
from files.models import Blob, FileVersion, ShareLink, UploadSession, UploadStatus
from files.selectors import files_for
from folders.models import Category, Node, NodeKind, Star
from storage_site.core import storage

FILE_CATEGORIES = [value for value in Category.values if value != Category.FOLDER]
OPEN_UPLOADS = [UploadStatus.UPLOADING, UploadStatus.ASSEMBLING]


def _sum(field: str, **extra):
    return Coalesce(Sum(field, **extra), 0)


def _days(days: int) -> tuple[date, list[date]]:
    today = timezone.now().date()
    first = today - timedelta(days=days - 1)
    return first, [first + timedelta(days=n) for n in range(days)]


def _start_of(day: date):
    return timezone.make_aware(datetime.combine(day, time.min))


# --- users ------------------------------------------------------------------------

def user_totals() -> dict:
    """People (group storage accounts excluded) and the storage held by every account. One query."""
    people = Q(is_group_account=False)
    since = timezone.now() - timedelta(days=7)
    row = User.objects.aggregate(
        total=Count("pk", filter=people),
        active=Count("pk", filter=people & Q(is_active=True)),
        admins=Count("pk", filter=people & Q(role=Role.ADMIN)),
        clients=Count("pk", filter=people & Q(role=Role.CLIENT)),
        newLast7Days=Count("pk", filter=people & Q(date_joined__gte=since)),
        overQuota=Count("pk", filter=Q(storage_used__gt=F("storage_quota"))),
        quotaBytes=_sum("storage_quota"),
        usedBytes=_sum("storage_used"),
        reservedBytes=_sum("storage_reserved"),
    )
    return row


def users_by_plan() -> list[dict]:
    rows = (User.objects.filter(is_group_account=False).values("plan")
            .annotate(users=Count("pk"), usedBytes=_sum("storage_used")).order_by("-users", "plan"))
    return list(rows)


def users_recent(limit: int = 5) -> list[User]:
    return list(User.objects.filter(is_group_account=False).order_by("-date_joined", "-pk")[:limit])


def users_top(limit: int = 10) -> list[dict]:
    """The accounts that store the most, with their live file counts. Two queries."""
    top = list(User.objects.order_by("-storage_used", "pk")
               .values("pk", "uuid", "username", "email", "phone", "role", "plan", "is_group_account",
                       "storage_used", "storage_quota")[:limit])
    counts = dict(Node.objects.filter(owner_id__in=[row["pk"] for row in top], kind=NodeKind.FILE,
                                      trashed_at__isnull=True)
                  .values_list("owner_id").annotate(n=Count("pk")).order_by())
    return [{
        "id": row["uuid"], "username": row["username"], "email": row["email"], "phone": row["phone"],
        "role": row["role"], "plan": row["plan"], "isGroupAccount": row["is_group_account"],
        "usedBytes": row["storage_used"], "quotaBytes": row["storage_quota"],
        "usagePercent": _percent(row["storage_used"], row["storage_quota"]), "files": counts.get(row["pk"], 0),
    } for row in top]


def sessions_live_count() -> int:
    return AuthSession.objects.live().count()


def _percent(part: int, whole: int) -> float:
    return round(100.0 * part / whole, 2) if whole else 0.0


# --- files ------------------------------------------------------------------------

def node_totals(owner: User | None = None) -> dict:
    """Live files and their bytes, folders, trash entries. One query."""
    nodes = Node.objects.all() if owner is None else Node.objects.filter(owner=owner)
    live, trashed = Q(trashed_at__isnull=True), Q(trashed_at__isnull=False)
    return nodes.aggregate(
        files=Count("pk", filter=live & Q(kind=NodeKind.FILE)),
        bytes=_sum("size", filter=live & Q(kind=NodeKind.FILE)),
        folders=Count("pk", filter=live & Q(kind=NodeKind.FOLDER, parent__isnull=False)),
        trashedEntries=Count("pk", filter=trashed & Q(trash_origin=True)),
        trashedFiles=Count("pk", filter=trashed & Q(kind=NodeKind.FILE)),
    )


def storage_totals() -> dict:
    """Logical bytes (every version of every file) against physical bytes (each
    distinct content once). Two queries."""
    versions = FileVersion.objects.aggregate(versions=Count("pk"), logicalBytes=_sum("size"))
    blobs = Blob.objects.aggregate(objects=Count("pk"), storedBytes=_sum("size"),
                                   unreferenced=Count("pk", filter=Q(ref_count=0)))
    return {**versions, **blobs, "dedupSavedBytes": max(0, versions["logicalBytes"] - blobs["storedBytes"])}


def uploads_open() -> dict:
    return UploadSession.objects.filter(status__in=OPEN_UPLOADS).aggregate(
        open=Count("pk"), reservedBytes=_sum("reserved"))


def by_category(owner: User | None = None) -> list[dict]:
    """Live files per category (Node.category), every category listed. One query."""
    nodes = Node.objects.filter(kind=NodeKind.FILE, trashed_at__isnull=True)
    if owner is not None:
        nodes = nodes.filter(owner=owner)
    found = {row["category"]: row for row in nodes.values("category")
             .annotate(files=Count("pk"), bytes=_sum("size")).order_by()}
    rows = [{"category": category, "files": found.get(category, {}).get("files", 0),
             "bytes": found.get(category, {}).get("bytes", 0)} for category in FILE_CATEGORIES]
    return sorted(rows, key=lambda row: (-row["bytes"], -row["files"], row["category"]))


def versions_per_day(*, days: int, owner: User | None = None) -> list[dict]:
    """File versions created per day over the last `days` days (zeros included). One query."""
    first, calendar = _days(days)
    versions = FileVersion.objects.filter(created_at__gte=_start_of(first))
    if owner is not None:
        versions = versions.filter(node__owner=owner)
    found = {row["day"]: row for row in versions.annotate(day=TruncDate("created_at")).values("day")
             .annotate(files=Count("pk"), bytes=_sum("size")).order_by()}
    return [{"date": day, "files": found.get(day, {}).get("files", 0), "bytes": found.get(day, {}).get("bytes", 0)}
            for day in calendar]


def growth(*, days: int, owner: User | None = None) -> list[dict]:
    """Per day: versions added, their bytes, new physical bytes, and the cumulative
    logical total at the end of the day. Four queries (two for the system-wide view
    only: physical bytes are shared between users, so they are not split per user)."""
    first, _ = _days(days)
    rows = versions_per_day(days=days, owner=owner)
    before = FileVersion.objects.filter(created_at__lt=_start_of(first))
    if owner is not None:
        before = before.filter(node__owner=owner)
    running = before.aggregate(total=_sum("size"))["total"]
    stored = {}
    stored_running = None
    if owner is None:
        stored = {row["day"]: row["bytes"] for row in Blob.objects.filter(created_at__gte=_start_of(first))
                  .annotate(day=TruncDate("created_at")).values("day").annotate(bytes=_sum("size")).order_by()}
        stored_running = Blob.objects.filter(created_at__lt=_start_of(first)).aggregate(total=_sum("size"))["total"]
    for row in rows:
        running += row["bytes"]
        row["totalBytes"] = running
        if owner is None:
            row["storedBytes"] = stored.get(row["date"], 0)
            stored_running += row["storedBytes"]
            row["totalStoredBytes"] = stored_running
    return rows


def recent_files(user: User, limit: int = 10):
    return list(files_for(user).order_by("-created_at", "-pk")[:limit])


def personal_counts(user: User) -> dict:
    """Three queries: the user's nodes, stars, live share links."""
    counts = node_totals(user)
    counts["starred"] = Star.objects.filter(user=user, node__trashed_at__isnull=True).count()
    counts["activeShareLinks"] = ShareLink.objects.for_owner(user).filter(
        Q(revoked_at__isnull=True) & (Q(expires_at__isnull=True) | Q(expires_at__gt=timezone.now()))).count()
    return counts


# --- the user's place in the bucket --------------------------------------------------

def folder_info(user: User) -> dict:
    """Where the user's bytes are. Storage keys are content-addressed and shared
    (`blobs/<2 hex>/<32 hex>`), so there is no per-user prefix to list: the figures
    are the distinct objects the user's file versions reference. Two queries."""
    versions = FileVersion.objects.filter(node__owner=user)
    logical = versions.aggregate(versions=Count("pk"), bytes=_sum("size"))
    objects = Blob.objects.filter(pk__in=versions.values("blob_id")).aggregate(count=Count("pk"), bytes=_sum("size"))
    return {
        "storageBackend": "s3" if storage.is_s3() else "local",
        "bucket": storage_bucket_name(),
        "keyPrefix": "blobs/",
        "userId": user.uuid,
        "logicalRoot": f"/{user.uuid}/",
        "objectCount": objects["count"],
        "objectBytes": objects["bytes"],
        "versionCount": logical["versions"],
        "logicalBytes": logical["bytes"],
    }


def storage_bucket_name() -> str | None:
    options = settings.STORAGES["default"].get("OPTIONS", {})
    return options.get("bucket_name") if storage.is_s3() else None
