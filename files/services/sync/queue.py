"""The offline queue (`queue/add`): operations a phone recorded while offline, each
named by the client's `id` and applied at most once.

An operation is looked up by (owner, id) first: one seen before answers its stored
result and nothing happens again. Otherwise it is applied as the matching sync
change (upload, delete, move, rename, mkdir; no base, so only an upload onto
other content is a conflict) and its result stored. Two copies of one operation
arriving at once both apply, which is harmless for a rename, move, delete or mkdir
(the second finds it done); the loser's upload session is cancelled and it answers
the winner's result. Failed operations are not stored, so they may be sent again."""

import uuid as uuid_module
from dataclasses import dataclass, field

from django.db import IntegrityError, transaction

from folders.models import Node
from storage_site.core.exceptions import ApplicationError

from ...models import SyncConflict, SyncOperation, UploadSession, UploadStatus
from ... import uploads as engine
from . import changes
from .changes import LocalChange, Outcome, SyncChangeError, SyncContext, path_split

TYPES = ("upload", "delete", "move", "rename", "mkdir")
MAX_OPERATIONS = 500


@dataclass
class QueueOperation:
    client_id: str
    type: str
    fields: dict = field(default_factory=dict)  # remotePath, fileId, name, folder, folderId, size, checksum, ...
    priority: str = "normal"
    client_created_at: object = None


@dataclass
class QueueOutcome:
    client_id: str
    type: str
    outcome: Outcome
    replayed: bool = False


def _as_change(op: QueueOperation) -> LocalChange:
    f = op.fields
    change = LocalChange(action=op.type, local_id=op.client_id, file_id=f.get("fileId") or "",
                         name=f.get("name") or "", folder=f.get("folder"), folder_id=f.get("folderId") or "",
                         size=f.get("size"), checksum=f.get("checksum") or "", mime_type=f.get("mimeType") or "",
                         base_version=f.get("baseVersion"))
    remote = f.get("remotePath")
    if op.type in ("upload", "mkdir") and not remote and not change.name:
        raise SyncChangeError(f"`{op.type}` needs `remotePath`.")
    if remote and op.type in ("upload", "mkdir", "move", "rename"):
        folder, name = path_split(remote)
        change.name = change.name or name
        if op.type != "rename":
            change.folder = folder if change.folder is None and not change.folder_id else change.folder
    return change


def queue_add(*, user, device_id: str, operations: list[QueueOperation]) -> list[QueueOutcome]:
    ctx = SyncContext(user=user, device_id=device_id)
    return [_one(ctx, op) for op in operations]


def _one(ctx: SyncContext, op: QueueOperation) -> QueueOutcome:
    stored = SyncOperation.objects.filter(owner=ctx.user, client_id=op.client_id).first()
    if stored is not None:
        return QueueOutcome(op.client_id, stored.type, _restore(ctx.user, stored), replayed=True)
    try:
        if op.type not in TYPES:
            raise SyncChangeError(f"`type` must be one of {', '.join(TYPES)}.")
        change = _as_change(op)
    except ApplicationError as exc:
        return QueueOutcome(op.client_id, op.type, Outcome(op.client_id, op.type, changes.ERROR, error=exc))
    outcome = changes.change_apply(ctx, change)
    if outcome.status == changes.ERROR:
        return QueueOutcome(op.client_id, op.type, outcome)
    result = {"status": outcome.status}
    for key, obj in (("fileId", outcome.node), ("uploadId", outcome.session), ("conflictId", outcome.conflict)):
        if obj is not None:
            result[key] = str(obj.uuid)
    try:
        with transaction.atomic():
            SyncOperation.objects.create(owner=ctx.user, client_id=op.client_id, device_id=ctx.device_id,
                                         type=op.type, payload=op.fields, priority=op.priority,
                                         client_created_at=op.client_created_at, result=result)
    except IntegrityError:  # the same operation, applied in parallel: the first stored result stands
        stored = SyncOperation.objects.get(owner=ctx.user, client_id=op.client_id)
        session = outcome.session
        if session is not None and stored.result.get("uploadId") != str(session.uuid) \
                and session.status == UploadStatus.UPLOADING:
            engine.session_cancel(session)
        return QueueOutcome(op.client_id, stored.type, _restore(ctx.user, stored), replayed=True)
    return QueueOutcome(op.client_id, op.type, outcome)


def _restore(user, stored: SyncOperation) -> Outcome:
    """The outcome a stored operation had, with its objects as they are now."""
    result = stored.result

    def by_uuid(model, key, **filters):
        value = result.get(key)
        if not value:
            return None
        return model.objects.filter(owner=user, uuid=uuid_module.UUID(value), **filters).first()

    return Outcome(stored.client_id, stored.type, result.get("status", changes.APPLIED),
                   node=by_uuid(Node, "fileId"), session=by_uuid(UploadSession, "uploadId"),
                   conflict=by_uuid(SyncConflict, "conflictId"))
