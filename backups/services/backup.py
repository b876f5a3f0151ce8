"""Auto-backup: sessions, files with one recorded outcome each, and de-duplication.

A backup session belongs to one device. Each file sent in it becomes a
`BackupFile` row that ends `uploaded`, `already_present` (the user already holds a
file with the same SHA-256: no new file, no bytes kept, no quota charged) or
`failed` with a reason. Files up to `UPLOAD_MAX_SIZE` come in one request; bigger
ones become an upload session of the chunked engine (source `backup`), whose end
the receivers in `receivers.py` record (and `session_reconcile` catches up on).
"""

import uuid
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from accounts.models import User
from accounts.quota import quota_held
from files.models import UploadSession, UploadSource, UploadStatus
from files import uploads as engine
from files.uploads import StoredBytes, file_commit, mime_for
from folders import services as tree
from folders.models import Node, NodeKind
from storage_site.core import storage
from storage_site.core.exceptions import ApplicationError, NotFound

from ..models import BackupFile, BackupSession, BackupStatus, Category, Device, Outcome
from .devices import device_touch


class BackupDisabled(ApplicationError):
    status_code = 403
    code = "BACKUP_DISABLED"
    message = "Backup is turned off for this device."


class SessionNotFound(NotFound):
    code = "SESSION_NOT_FOUND"
    message = "Backup session not found."


class SessionExpired(NotFound):
    code = "SESSION_EXPIRED"
    message = "This backup session has expired; start a new one."


class SessionCompleted(ApplicationError):
    status_code = 409
    code = "SESSION_COMPLETED"
    message = "This backup session is complete; start a new one."


@dataclass
class FileInfo:
    """A file as the device describes it."""

    name: str
    folder: str = ""  # a path under the device's backup folder, e.g. "DCIM/Camera"
    asset_id: str = ""
    size: int | None = None
    sha256: str = ""
    mime_type: str = ""
    metadata: dict | None = None


def _idle_limit() -> timedelta:
    return timedelta(hours=settings.BACKUP_SESSION_IDLE_HOURS)


# --- sessions ---------------------------------------------------------------------------

def backup_start(*, user: User, device: Device, expected_files: int | None,
                 expected_bytes: int | None) -> BackupSession:
    """Open a backup session for the device; an older running one of the same device
    is interrupted (a phone that restarts its backup starts over)."""
    if not device.backup_enabled:
        raise BackupDisabled()
    now = timezone.now()
    with transaction.atomic(durable=True):
        BackupSession.objects.filter(device=device, status=BackupStatus.RUNNING).update(
            status=BackupStatus.INTERRUPTED, completed_at=now)
        session = BackupSession.objects.create(owner=user, device=device, expected_files=expected_files,
                                               expected_bytes=expected_bytes)
    device_touch(device=device)
    return session


def session_get(*, user: User, session_id) -> BackupSession:
    """The user's own backup session; any other id is 404 SESSION_NOT_FOUND."""
    try:
        session_uuid = uuid.UUID(str(session_id))
    except (TypeError, ValueError):
        raise SessionNotFound() from None
    session = BackupSession.objects.for_owner(user).select_related("device").filter(uuid=session_uuid).first()
    if session is None:
        raise SessionNotFound()
    return session


def session_open(*, user: User, session_id) -> BackupSession:
    """A session that can take files: running, not idle too long, its device live and
    backing up."""
    session = session_get(user=user, session_id=session_id)
    if session.status == BackupStatus.RUNNING and session.last_activity_at <= timezone.now() - _idle_limit():
        session_expire(session=session)
        session.status = BackupStatus.EXPIRED
    if session.status == BackupStatus.COMPLETED:
        raise SessionCompleted()
    if session.status != BackupStatus.RUNNING:
        raise SessionExpired()
    if not session.device.is_live:
        raise NotFound("Device not found.", code="DEVICE_NOT_FOUND")
    if not session.device.backup_enabled:
        raise BackupDisabled()
    return session


def _activity(session: BackupSession) -> None:
    BackupSession.objects.filter(pk=session.pk).update(last_activity_at=timezone.now())
    device_touch(device=session.device)


def backup_folder(*, device: Device, subfolder: str = "") -> Node:
    """`Backups/<device name>/<subfolder>` under home, made when missing. The device
    keeps its folder (a rename of either does not split its backups) until the
    folder is deleted."""
    user = device.owner
    folder = Node.objects.live().filter(pk=device.backup_folder_id, owner=user).first() \
        if device.backup_folder_id else None
    if folder is None:
        with transaction.atomic():
            root = tree.folder_ensure_path(user=user, parent=tree.home_get(user=user),
                                           parts=[settings.BACKUP_FOLDER_NAME])
            name = _folder_name(device)
            existing = tree.sibling_get(parent=root, name=name)
            claimed = existing is not None and existing.is_folder and \
                Device.objects.filter(backup_folder=existing).exclude(pk=device.pk).exists()
            if existing is not None and existing.is_folder and not claimed:
                folder = existing
            else:  # the name is another device's folder (or a file): keep both
                folder = tree.folder_create(user=user, parent=root, name=name, policy=tree.ConflictPolicy.RENAME)
            Device.objects.filter(pk=device.pk).update(backup_folder=folder)
            device.backup_folder = folder
    parts = [part for part in subfolder.replace("\\", "/").split("/") if part.strip()]
    return tree.folder_ensure_path(user=user, parent=folder, parts=parts) if parts else folder


def _folder_name(device: Device) -> str:
    """The device's name as a folder name (a name may hold a slash; a folder's may not)."""
    raw = "".join(ch for ch in device.name.replace("/", "-").replace("\\", "-") if ch.isprintable()).strip()
    try:
        return tree.name_clean(raw)
    except ApplicationError:
        return f"Device {str(device.uuid)[:8]}"


def present_node(*, user: User, sha256: str) -> Node | None:
    """A live file of the user with this content, if any."""
    if not sha256:
        return None
    return Node.objects.for_owner(user).live().filter(kind=NodeKind.FILE, sha256=sha256).order_by("pk").first()


def _record(session: BackupSession, info: FileInfo, *, outcome: str, size: int | None = None, sha256: str = "",
            node: Node | None = None, upload: UploadSession | None = None, code: str = "",
            reason: str = "") -> BackupFile:
    done = outcome != Outcome.PENDING
    row = BackupFile.objects.create(
        session=session, device=session.device, name=(info.name or "")[:255], folder=(info.folder or "")[:1024],
        asset_id=(info.asset_id or "")[:255], size=size if size is not None else (info.size or 0),
        sha256=sha256 or info.sha256, outcome=outcome, reason_code=code[:64], reason=reason[:500], node=node,
        upload=upload, finished_at=timezone.now() if done else None)
    if outcome in (Outcome.UPLOADED, Outcome.ALREADY_PRESENT):
        _supersede(row)
    return row


def _supersede(row: BackupFile) -> None:
    """Earlier failed attempts of the same file in the session no longer count as failures."""
    same = Q(asset_id=row.asset_id) if row.asset_id else Q(asset_id="", name=row.name, folder=row.folder)
    BackupFile.objects.filter(same, session_id=row.session_id, outcome=Outcome.FAILED, pk__lt=row.pk).update(
        superseded=True)


def record_failure(*, session: BackupSession, info: FileInfo, error: ApplicationError) -> BackupFile:
    """A file that could not be taken, with the reason the client was given."""
    return _record(session, info, outcome=Outcome.FAILED, code=error.code, reason=error.message)


def backup_file_store(*, session: BackupSession, info: FileInfo, stored: StoredBytes) -> BackupFile:
    """Record a file whose bytes the request streamed to `stored`. Content the user
    already holds is `already_present`: the bytes are dropped and nothing charged.
    Any error is recorded as the file's failure and raised for the client."""
    user = session.owner
    try:
        if info.sha256 and info.sha256 != stored.sha256:
            raise ApplicationError("The file's SHA-256 differs from the `checksum` sent with it; nothing was "
                                   "stored.", code="CHECKSUM_MISMATCH")
        name = tree.name_clean(info.name)
        with transaction.atomic():
            # One backup commit at a time per user: two phones sending the same photo
            # together still store it once.
            User.objects.select_for_update().filter(pk=user.pk).first()
            existing = present_node(user=user, sha256=stored.sha256)
            if existing is not None:
                row = _record(session, info, outcome=Outcome.ALREADY_PRESENT, size=stored.size,
                              sha256=stored.sha256, node=existing)
                transaction.on_commit(lambda: storage.delete(stored.key))
            else:
                folder = backup_folder(device=session.device, subfolder=info.folder)
                with quota_held(user=user, size=stored.size) as reservation:
                    node = file_commit(user=user, folder=folder, name=name, stored=stored,
                                       mime_type=mime_for(name, info.mime_type), reservation=reservation,
                                       policy=tree.ConflictPolicy.RENAME, metadata=_metadata(session, info))
                row = _record(session, info, outcome=Outcome.UPLOADED, size=stored.size, sha256=stored.sha256,
                              node=node)
    except BaseException as exc:
        storage.delete(stored.key)
        if isinstance(exc, ApplicationError):
            record_failure(session=session, info=info, error=exc)
        raise
    _activity(session)
    return row


def _metadata(session: BackupSession, info: FileInfo) -> dict:
    backup = {"deviceId": str(session.device.uuid)}
    if info.asset_id:
        backup["assetId"] = info.asset_id
    return {**(info.metadata or {}), "backup": backup}


@dataclass
class ChunkedStart:
    row: BackupFile
    upload: UploadSession | None


def backup_file_start_chunked(*, session: BackupSession, info: FileInfo) -> ChunkedStart:
    """A big file: already held (by its declared SHA-256) → `already_present` at once;
    else an engine upload session (source `backup`) the device sends chunks to."""
    user = session.owner
    try:
        if not info.sha256:
            raise ApplicationError("A file sent in chunks needs its `checksum` (SHA-256).", code="VALIDATION_ERROR")
        if info.size is None or info.size < 0:
            raise ApplicationError("A file sent in chunks needs its `size`.", code="VALIDATION_ERROR")
        existing = present_node(user=user, sha256=info.sha256)
        if existing is not None:
            row = _record(session, info, outcome=Outcome.ALREADY_PRESENT, node=existing)
            _activity(session)
            return ChunkedStart(row, None)
        folder = backup_folder(device=session.device, subfolder=info.folder)
        chunk_size = settings.BACKUP_CHUNK_SIZE
        upload = engine.session_start(
            user=user, folder=folder, name=info.name, source=UploadSource.BACKUP, expected_size=info.size,
            chunk_size=chunk_size, checksum=info.sha256, mime_type=info.mime_type or None,
            policy=tree.ConflictPolicy.RENAME, local_id=info.asset_id or info.name,
            metadata=_metadata(session, info), direct=info.size > chunk_size)
    except ApplicationError as exc:
        record_failure(session=session, info=info, error=exc)
        raise
    row = _record(session, info, outcome=Outcome.PENDING, upload=upload)
    _activity(session)
    return ChunkedStart(row, upload)


def upload_resolve(*, upload: UploadSession) -> None:
    """Record how the engine upload of a pending backup file ended (receivers, reconcile)."""
    row = BackupFile.objects.filter(upload=upload, outcome=Outcome.PENDING).first()
    if row is None:
        return
    now = timezone.now()
    if upload.status == UploadStatus.COMPLETE:
        updated = BackupFile.objects.filter(pk=row.pk, outcome=Outcome.PENDING).update(
            outcome=Outcome.UPLOADED, node_id=upload.node_id, finished_at=now)
        if updated:
            row.outcome = Outcome.UPLOADED
            _supersede(row)
    elif upload.status in (UploadStatus.FAILED, UploadStatus.EXPIRED):
        BackupFile.objects.filter(pk=row.pk, outcome=Outcome.PENDING).update(
            outcome=Outcome.FAILED, reason_code=upload.error_code[:64] or "UPLOAD_FAILED",
            reason=upload.error_message or "The upload did not complete.", finished_at=now)


def session_reconcile(*, session: BackupSession) -> None:
    """Catch up on pending files whose engine upload has ended (a missed signal)."""
    ended = UploadSession.objects.filter(
        backup_file__session=session, backup_file__outcome=Outcome.PENDING,
        status__in=[UploadStatus.COMPLETE, UploadStatus.FAILED, UploadStatus.EXPIRED])
    for upload in ended:
        upload_resolve(upload=upload)


def _abandon_unfinished(session: BackupSession, *, code: str, message: str) -> None:
    """Pending files whose chunks never all arrived end failed; their uploads are cancelled."""
    rows = BackupFile.objects.filter(session=session, outcome=Outcome.PENDING,
                                     upload__status=UploadStatus.UPLOADING).select_related("upload")
    for row in rows:
        BackupFile.objects.filter(pk=row.pk, outcome=Outcome.PENDING).update(
            outcome=Outcome.FAILED, reason_code=code, reason=message, finished_at=timezone.now())
        engine.session_fail(row.upload, code, message)


def backup_complete(*, session: BackupSession) -> BackupSession:
    """Close the session. Files still being assembled keep `pending` and get their
    outcome when assembly ends; files whose chunks never all arrived fail. Calling
    it again answers the same."""
    from .notifications import notify

    session_reconcile(session=session)
    if session.status == BackupStatus.COMPLETED:
        return session
    if session.status != BackupStatus.RUNNING:
        raise SessionExpired()
    _abandon_unfinished(session, code="NOT_FINISHED",
                        message="The session was completed before all of this file's chunks arrived.")
    now = timezone.now()
    with transaction.atomic(durable=True):
        closed = BackupSession.objects.filter(pk=session.pk, status=BackupStatus.RUNNING).update(
            status=BackupStatus.COMPLETED, completed_at=now, last_activity_at=now)
        if closed:
            summary = session_summary(session=session)
            transaction.on_commit(lambda: _notify_complete(session, summary, notify), robust=True)
    session.refresh_from_db()
    return session


def _notify_complete(session: BackupSession, summary: dict, notify) -> None:
    counts = summary["files"]
    parts = [f"{counts['uploaded']} new", f"{counts['alreadyPresent']} already backed up"]
    if counts["failed"]:
        parts.append(f"{counts['failed']} failed")
    notify(user=session.owner, category=Category.UPLOADS,
           title="Backup failed for some files" if counts["failed"] else "Backup complete",
           body=f"{session.device.name}: " + ", ".join(parts) + ".",
           data={"type": "backup_complete", "sessionId": str(session.uuid)}, collapse_key=f"backup-{session.uuid}")


def session_summary(*, session: BackupSession) -> dict:
    from ..selectors import session_counts

    counts = session_counts(session_ids=[session.pk]).get(session.pk, {})
    return {
        "files": {"uploaded": counts.get("uploaded", 0), "alreadyPresent": counts.get("already_present", 0),
                  "failed": counts.get("failed", 0), "pending": counts.get("pending", 0)},
        "bytesUploaded": counts.get("bytes_uploaded", 0), "bytesAlreadyPresent": counts.get("bytes_present", 0),
    }


def session_expire(*, session: BackupSession) -> None:
    updated = BackupSession.objects.filter(pk=session.pk, status=BackupStatus.RUNNING).update(
        status=BackupStatus.EXPIRED, completed_at=timezone.now())
    if updated:
        _abandon_unfinished(session, code="SESSION_EXPIRED",
                            message="The backup session expired before this file's chunks all arrived.")


def sessions_expire(*, limit: int = 1000) -> int:
    """Periodic: end running sessions idle longer than BACKUP_SESSION_IDLE_HOURS."""
    stale = BackupSession.objects.filter(status=BackupStatus.RUNNING,
                                         last_activity_at__lte=timezone.now() - _idle_limit())
    count = 0
    for session in stale.order_by("last_activity_at")[:limit]:
        session_expire(session=session)
        count += 1
    return count


# --- which files the server lacks ------------------------------------------------------

def backup_check(*, user: User, device: Device | None, items: list[dict]) -> list[dict]:
    """For each item (`checksum` and/or `assetId`), whether the user already holds it:
    a live file with that SHA-256, or an asset this device backed up before whose
    file is still there. Two queries, whatever the number of items."""
    sums = {item["checksum"] for item in items if item.get("checksum")}
    held = dict(Node.objects.for_owner(user).live().filter(kind=NodeKind.FILE, sha256__in=sums)
                .order_by("-pk").values_list("sha256", "uuid"))
    assets = {}
    asset_ids = {item["assetId"] for item in items if item.get("assetId")}
    if device is not None and asset_ids:
        rows = (BackupFile.objects.filter(device=device, asset_id__in=asset_ids,
                                          outcome__in=[Outcome.UPLOADED, Outcome.ALREADY_PRESENT],
                                          node__trashed_at__isnull=True, node__isnull=False)
                .order_by("pk").values_list("asset_id", "sha256", "node__uuid"))
        assets = {asset: (sha256, node_uuid) for asset, sha256, node_uuid in rows}
    answers = []
    for item in items:
        checksum, asset = item.get("checksum", ""), item.get("assetId", "")
        file_id, how = None, None
        if checksum and checksum in held:
            file_id, how = held[checksum], "checksum"
        elif asset in assets and (not checksum or assets[asset][0] == checksum):
            file_id, how = assets[asset][1], "assetId"
        answer = {"present": file_id is not None}
        if checksum:
            answer["checksum"] = checksum
        if asset:
            answer["assetId"] = asset
        if file_id:
            answer.update(fileId=str(file_id), matchedBy=how)
        answers.append(answer)
    return answers
