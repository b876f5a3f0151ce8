"""Reads shared by the views: device lists, backup counts and analytics, the admin
overview. Aggregates are computed in the database (a few queries, whatever the
number of files)."""

from datetime import timedelta

from django.db.models import Count, Max, OuterRef, Q, Subquery, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from accounts.models import AuthSession

from .models import BackupFile, BackupSession, BackupStatus, Device, Outcome

OK = [Outcome.UPLOADED, Outcome.ALREADY_PRESENT]


def devices_for(user):
    """The user's live devices, with `last_seen` (the newest activity of a session the
    device signed in with) for `lastActiveAt`."""
    seen = (AuthSession.objects.filter(user_id=OuterRef("owner_id"), device_id=OuterRef("device_id"))
            .order_by("-last_seen_at").values("last_seen_at")[:1])
    return (Device.objects.for_owner(user).live().select_related("push")
            .annotate(last_seen=Subquery(seen)).order_by("-registered_at", "-pk"))


def device_last_active(device):
    seen = getattr(device, "last_seen", None)
    if seen and device.last_active_at:
        return max(seen, device.last_active_at)
    return seen or device.last_active_at


def _file_aggregates():
    counted = Q(superseded=False)
    return {
        "uploaded": Count("pk", filter=Q(outcome=Outcome.UPLOADED)),
        "already_present": Count("pk", filter=Q(outcome=Outcome.ALREADY_PRESENT)),
        "failed": Count("pk", filter=Q(outcome=Outcome.FAILED) & counted),
        "pending": Count("pk", filter=Q(outcome=Outcome.PENDING)),
        "bytes_uploaded": Coalesce(Sum("size", filter=Q(outcome=Outcome.UPLOADED)), 0),
        "bytes_present": Coalesce(Sum("size", filter=Q(outcome=Outcome.ALREADY_PRESENT)), 0),
    }


def session_counts(*, session_ids: list[int]) -> dict[int, dict]:
    """Per session: files by outcome and bytes. One query."""
    rows = BackupFile.objects.filter(session_id__in=session_ids).values("session_id").annotate(**_file_aggregates())
    return {row["session_id"]: row for row in rows}


def success_rate(counts: dict) -> float | None:
    ok = counts.get("uploaded", 0) + counts.get("already_present", 0)
    done = ok + counts.get("failed", 0)
    return round(ok * 100 / done, 1) if done else None


def session_progress(session, counts: dict) -> dict:
    done_files = counts.get("uploaded", 0) + counts.get("already_present", 0) + counts.get("failed", 0)
    done_bytes = counts.get("bytes_uploaded", 0) + counts.get("bytes_present", 0)
    if session.expected_bytes:
        percent = done_bytes * 100 / session.expected_bytes
    elif session.expected_files:
        percent = done_files * 100 / session.expected_files
    else:
        percent = None
    return {"sessionId": str(session.uuid), "status": session.status, "startedAt": session.started_at,
            "expectedFiles": session.expected_files, "expectedBytes": session.expected_bytes,
            "filesDone": done_files, "bytesDone": done_bytes, "pending": counts.get("pending", 0),
            "percent": round(min(percent, 100.0), 1) if percent is not None else None}


def analytics(user) -> dict:
    """Per device and overall: files and bytes backed up, last backup, success rate,
    and the progress of a running session. Four queries."""
    devices = list(Device.objects.for_owner(user).live().order_by("-registered_at", "-pk"))
    per_device = {row["device_id"]: row for row in
                  BackupFile.objects.filter(device__owner=user).values("device_id").annotate(**_file_aggregates())}
    sessions = {row["device_id"]: row for row in BackupSession.objects.filter(owner=user).values("device_id")
                .annotate(last=Max("completed_at", filter=Q(status=BackupStatus.COMPLETED)),
                          sessions=Count("pk"))}
    running = {s.device_id: s for s in BackupSession.objects.filter(owner=user, status=BackupStatus.RUNNING)}
    running_counts = session_counts(session_ids=[s.pk for s in running.values()])
    out, overall = [], {"uploaded": 0, "already_present": 0, "failed": 0, "pending": 0, "bytes_uploaded": 0,
                        "bytes_present": 0}
    last_overall = None
    for device in devices:
        counts = per_device.get(device.pk, {})
        for key in overall:
            overall[key] += counts.get(key, 0)
        last = sessions.get(device.pk, {}).get("last")
        last_overall = max(filter(None, [last_overall, last]), default=None)
        entry = _totals(counts)
        entry.update(deviceId=str(device.uuid), name=device.name, platform=device.platform,
                     backupEnabled=device.backup_enabled, lastBackupAt=last,
                     sessions=sessions.get(device.pk, {}).get("sessions", 0), runningSession=None)
        if device.pk in running:
            entry["runningSession"] = session_progress(running[device.pk], running_counts.get(running[device.pk].pk, {}))
        out.append(entry)
    return {"overall": {**_totals(overall), "devices": len(devices), "lastBackupAt": last_overall},
            "devices": out}


def _totals(counts: dict) -> dict:
    return {"files": counts.get("uploaded", 0) + counts.get("already_present", 0),
            "filesUploaded": counts.get("uploaded", 0), "filesAlreadyPresent": counts.get("already_present", 0),
            "filesFailed": counts.get("failed", 0), "filesPending": counts.get("pending", 0),
            "bytes": counts.get("bytes_uploaded", 0) + counts.get("bytes_present", 0),
            "bytesUploaded": counts.get("bytes_uploaded", 0),
            "successRate": success_rate(counts)}


def admin_overview() -> dict:
    """System-wide: devices, sessions by status, files and bytes, failures by reason,
    the last 24 hours. Aggregate queries only."""
    now = timezone.now()
    day_ago = now - timedelta(hours=24)
    devices = Device.objects.aggregate(
        total=Count("pk"), live=Count("pk", filter=Q(removed_at__isnull=True)),
        backupEnabled=Count("pk", filter=Q(removed_at__isnull=True, backup_enabled=True)),
        activeLast30Days=Count("pk", filter=Q(removed_at__isnull=True, last_active_at__gte=now - timedelta(days=30))),
        registeredLast24h=Count("pk", filter=Q(registered_at__gte=day_ago)))
    by_platform = dict(Device.objects.filter(removed_at__isnull=True).values_list("platform")
                       .annotate(n=Count("pk")).order_by())
    by_status = dict(BackupSession.objects.values_list("status").annotate(n=Count("pk")).order_by())
    files = BackupFile.objects.aggregate(**_file_aggregates())
    failures = [{"code": row["reason_code"] or "UNKNOWN", "count": row["n"]} for row in
                BackupFile.objects.filter(outcome=Outcome.FAILED, superseded=False).values("reason_code")
                .annotate(n=Count("pk")).order_by("-n", "reason_code")[:50]]
    recent = BackupFile.objects.filter(created_at__gte=day_ago).aggregate(**_file_aggregates())
    recent_sessions = BackupSession.objects.filter(started_at__gte=day_ago).aggregate(
        started=Count("pk"), completed=Count("pk", filter=Q(status=BackupStatus.COMPLETED)))
    return {
        "devices": {**devices, "byPlatform": by_platform},
        "sessions": {"total": sum(by_status.values()),
                     "byStatus": {status: by_status.get(status, 0) for status in BackupStatus.values}},
        "files": _totals(files),
        "failuresByReason": failures,
        "last24h": {"sessionsStarted": recent_sessions["started"], "sessionsCompleted": recent_sessions["completed"],
                    **_totals(recent)},
        "generatedAt": now,
    }
