"""A phone's local changes (`sync/files`, and the offline queue), one at a time.

Each change ends in one of:

- `applied`: done on the server (rename, move, delete, mkdir);
- `exists`: already so on the server (the same checksum at that path, the name
  already given, the entry already deleted); nothing to do;
- `upload`: the bytes are wanted: an upload session of the engine
  (source `sync`), sent through the MegaVault chunk door;
- `conflict`: the server's state moved since the client's base, or another
  device is uploading other content to the same file: nothing is applied and a
  `SyncConflict` records both sides until someone resolves it;
- `error`: the change is wrong (a bad name, an unknown id, ...); others still apply.

The client's base for a change is its `baseVersion` or `baseChecksum`, else the
position of the request's sync token: a content change conflicts when the file's
content changed after the base; a rename or move when the entry was renamed or
moved after the token's position. Changes of one request to one node do not
conflict with each other."""

from dataclasses import asdict, dataclass, field
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from folders import selectors as folder_selectors
from folders import services as tree
from folders.models import Change, ChangeAction, Node, NodeKind
from storage_site.core.exceptions import ApplicationError, NameConflict, NotFound

from ...models import SyncConflict, SyncConflictStatus, SyncUpload, UploadSession, UploadSource, UploadStatus
from .. import megavault_uploads as mv
from ... import uploads as engine

ACTIONS = ("upload", "update", "rename", "move", "delete", "mkdir")
CONTENT_ACTIONS = ("upload", "update")
APPLIED, EXISTS, UPLOAD, CONFLICT, ERROR = "applied", "exists", "upload", "conflict", "error"
# A claim whose session never started (the request died in between) is free again after this.
CLAIM_START_GRACE = timedelta(minutes=5)
OPEN_UPLOAD = (UploadStatus.UPLOADING, UploadStatus.ASSEMBLING)


class SyncChangeError(ApplicationError):
    code = "VALIDATION_ERROR"


@dataclass
class LocalChange:
    action: str
    local_id: str
    file_id: str = ""
    name: str = ""
    folder: str | None = None  # a path under home, "/photos/2024"
    folder_id: str = ""
    size: int | None = None
    checksum: str = ""  # lower-case hex
    mime_type: str = ""
    base_version: int | None = None
    base_checksum: str = ""
    modified_at: str | None = None

    def as_json(self) -> dict:
        """The change as the client sent it (its field names), for the conflict record."""
        return {_CLIENT_NAMES.get(key, key): value for key, value in asdict(self).items() if value not in (None, "")}


_CLIENT_NAMES = {"local_id": "localId", "file_id": "fileId", "folder_id": "folderId", "mime_type": "mimeType",
                 "base_version": "baseVersion", "base_checksum": "baseChecksum", "modified_at": "modifiedAt"}


@dataclass
class SyncContext:
    user: object
    device_id: str = ""
    position: int | None = None  # the request's sync token position
    touched: set = field(default_factory=set)  # nodes this request changed


@dataclass
class Outcome:
    local_id: str
    action: str
    status: str
    node: Node | None = None
    session: UploadSession | None = None
    conflict: SyncConflict | None = None
    error: ApplicationError | None = None


def change_apply(ctx: SyncContext, change: LocalChange) -> Outcome:
    """Apply one change; an ApplicationError becomes this change's `error`."""
    try:
        if change.action not in ACTIONS:
            raise SyncChangeError(f"`action` must be one of {', '.join(ACTIONS)}.")
        outcome = _HANDLERS[change.action](ctx, change)
    except ApplicationError as exc:
        return Outcome(change.local_id, change.action, ERROR, error=exc)
    if outcome.status == APPLIED and outcome.node is not None:
        ctx.touched.add(outcome.node.uuid)
    return outcome


# --- the actions ---------------------------------------------------------------------------

def _upload(ctx, ch):
    _require(ch, "name", "size", "checksum")
    folder = _folder(ctx, ch)
    name = tree.name_clean(ch.name)
    existing = tree.sibling_get(parent=folder, name=name)
    if existing is not None:
        if existing.is_folder:
            raise NameConflict(f"'{name}' is a folder.")
        if existing.sha256 == ch.checksum:
            return _done(ch, EXISTS, existing)
        return _conflict(ctx, ch, reason="exists", node=existing)
    return _claim_and_start(ctx, ch, folder=folder, name=name, node=None, policy=tree.ConflictPolicy.RENAME)


def _update(ctx, ch):
    _require(ch, "file_id", "size", "checksum")
    node = folder_selectors.node_get(user=ctx.user, node_id=ch.file_id, kind=NodeKind.FILE)
    if ch.base_version is None and not ch.base_checksum and ctx.position is None:
        raise SyncChangeError("An update needs its base: `baseVersion`, `baseChecksum` or the request's syncToken.")
    if node.sha256 == ch.checksum:
        return _done(ch, EXISTS, node)
    if _content_moved(ctx, ch, node):
        return _conflict(ctx, ch, reason="modified", node=node)
    return _claim_and_start(ctx, ch, folder=node.parent, name=node.name, node=node,
                            policy=tree.ConflictPolicy.VERSION)


def _rename(ctx, ch):
    _require(ch, "file_id", "name")
    node = folder_selectors.node_get(user=ctx.user, node_id=ch.file_id)
    name = tree.name_clean(ch.name)
    if node.name == name:
        return _done(ch, EXISTS, node)
    if _place_moved(ctx, node):
        return _conflict(ctx, ch, reason="modified", node=node)
    return _done(ch, APPLIED, tree.node_rename(node=node, name=name))


def _move(ctx, ch):
    _require(ch, "file_id")
    if ch.folder is None and not ch.folder_id:
        raise SyncChangeError("A move needs the target `folder` (a path) or `folderId`.")
    node = folder_selectors.node_get(user=ctx.user, node_id=ch.file_id)
    target = _folder(ctx, ch)
    name = tree.name_clean(ch.name) if ch.name else None
    if node.parent_id == target.pk and (name is None or name == node.name):
        return _done(ch, EXISTS, node)
    if _place_moved(ctx, node):
        return _conflict(ctx, ch, reason="modified", node=node)
    return _done(ch, APPLIED, tree.node_move(node=node, target=target, name=name))


def _delete(ctx, ch):
    _require(ch, "file_id")
    node = folder_selectors.node_get(user=ctx.user, node_id=ch.file_id, include_trashed=True)
    if node.trashed_at is not None:
        return _done(ch, EXISTS, node)
    if node.is_root:
        raise NotFound()
    if _content_moved(ctx, ch, node):
        return _conflict(ctx, ch, reason="modified", node=node)
    tree.node_trash(node=node)
    return _done(ch, APPLIED, node)


def _mkdir(ctx, ch):
    _require(ch, "name")
    parent = _folder(ctx, ch)
    name = tree.name_clean(ch.name)
    existing = tree.sibling_get(parent=parent, name=name)
    if existing is not None:
        if not existing.is_folder:
            raise NameConflict(f"'{name}' is a file.")
        return _done(ch, EXISTS, existing)
    try:
        return _done(ch, APPLIED, tree.folder_create(user=ctx.user, parent=parent, name=name))
    except NameConflict:  # made by a parallel request
        existing = tree.sibling_get(parent=parent, name=name)
        if existing is None or not existing.is_folder:
            raise
        return _done(ch, EXISTS, existing)


_HANDLERS = {"upload": _upload, "update": _update, "rename": _rename, "move": _move, "delete": _delete,
             "mkdir": _mkdir}


# --- pieces ----------------------------------------------------------------------------------

_FIELD_NAMES = {"file_id": "fileId", "name": "name", "size": "size", "checksum": "checksum"}


def _require(ch: LocalChange, *names: str) -> None:
    missing = [_FIELD_NAMES[name] for name in names if getattr(ch, name) in (None, "")]
    if missing:
        raise SyncChangeError(f"`{ch.action}` needs {', '.join(f'`{name}`' for name in missing)}.")


def _done(ch: LocalChange, status: str, node: Node | None = None, **extra) -> Outcome:
    return Outcome(ch.local_id, ch.action, status, node=node, **extra)


def path_split(path: str) -> tuple[str, str]:
    """'/photos/IMG_1.jpg' → ('/photos', 'IMG_1.jpg')."""
    parts = [part for part in str(path).split("/") if part.strip()]
    if not parts:
        raise SyncChangeError("The path names no entry.")
    return "/" + "/".join(parts[:-1]), parts[-1]


def folder_resolve(*, user, path: str | None = None, folder_id: str = "") -> Node:
    """A folder by id, or by path under home (missing folders are made)."""
    if folder_id:
        return folder_selectors.folder_get_or_home(user=user, folder_id=folder_id)
    parts = [tree.name_clean(part) for part in (path or "").split("/") if part.strip()]
    return tree.folder_ensure_path(user=user, parent=tree.home_get(user=user), parts=parts)


def _folder(ctx, ch) -> Node:
    return folder_resolve(user=ctx.user, path=ch.folder, folder_id=ch.folder_id)


def _content_moved(ctx, ch, node: Node) -> bool:
    """Did the file's content change after the client's base?"""
    if ch.base_version is not None:
        return node.version != ch.base_version
    if ch.base_checksum:
        return node.sha256 != ch.base_checksum
    if ctx.position is None or node.uuid in ctx.touched:
        return False
    return Change.objects.filter(owner=ctx.user, node_uuid=node.uuid, seq__gt=ctx.position,
                                 action=ChangeAction.UPDATE).exists()


def _place_moved(ctx, node: Node) -> bool:
    """Was the entry renamed or moved after the token's position?"""
    if ctx.position is None or node.uuid in ctx.touched:
        return False
    return Change.objects.filter(owner=ctx.user, node_uuid=node.uuid, seq__gt=ctx.position,
                                 action__in=[ChangeAction.RENAME, ChangeAction.MOVE]).exists()


def _conflict(ctx, ch, *, reason: str, node: Node | None) -> Outcome:
    """Record (or refresh) the open conflict of this local change."""
    fields = {"node": node, "action": ch.action, "reason": reason, "local_change": ch.as_json(),
              "base_version": ch.base_version, "server_version": node.version if node else 0,
              "server_checksum": node.sha256 if node else "", "server_name": node.name if node else ch.name}
    mine = SyncConflict.objects.filter(owner=ctx.user, device_id=ctx.device_id, local_id=ch.local_id)
    conflict = mine.exclude(status=SyncConflictStatus.RESOLVED).first()
    if conflict is None:
        try:
            with transaction.atomic():
                conflict = SyncConflict.objects.create(owner=ctx.user, device_id=ctx.device_id,
                                                       local_id=ch.local_id, **fields)
        except IntegrityError:  # the same change pushed twice at once
            conflict = mine.exclude(status=SyncConflictStatus.RESOLVED).first()
    elif conflict.status == SyncConflictStatus.OPEN:
        mine.filter(pk=conflict.pk, status=SyncConflictStatus.OPEN).update(**fields)
        conflict.refresh_from_db()
    return _done(ch, CONFLICT, node, conflict=conflict)


def upload_start(*, user, folder: Node, name: str, size: int, checksum: str, mime_type: str = "",
                 policy: str, local_id: str) -> UploadSession:
    """An upload session of the engine for a sync upload, sent through the MegaVault chunk door."""
    chunk_size = min(mv.CHUNK_SIZE_DEFAULT, mv.chunk_size_max())
    return engine.session_start(user=user, folder=folder, name=name, source=UploadSource.SYNC, expected_size=size,
                                chunk_size=chunk_size, checksum=checksum, mime_type=mime_type or None,
                                policy=policy, local_id=local_id, direct=size > chunk_size)


def _claim_ended(claim: SyncUpload) -> bool:
    session = claim.session
    if session is None:
        return claim.created_at < timezone.now() - CLAIM_START_GRACE
    return session.status not in OPEN_UPLOAD or (
        session.status == UploadStatus.UPLOADING and session.expires_at <= timezone.now())


def _release(claim: SyncUpload) -> None:
    SyncUpload.objects.filter(pk=claim.pk, active=True).update(active=False)


def _claim_and_start(ctx, ch, *, folder: Node, name: str, node: Node | None, policy: str) -> Outcome:
    """Claim the path for this content, then open the upload session (outside any
    transaction: with S3 it creates a multipart upload). The first claim wins; a
    later device with other content gets a conflict; the same content again gets
    the same upload; newer content of the same local file replaces its unfinished upload."""
    for _ in range(5):
        claim = SyncUpload(owner=ctx.user, folder=folder, name=name, node=node, local_id=ch.local_id,
                           device_id=ctx.device_id, checksum=ch.checksum)
        try:
            with transaction.atomic():
                claim.save()
            break
        except IntegrityError:
            holder = (SyncUpload.objects.select_related("session")
                      .filter(folder=folder, name=name, active=True).first())
            if holder is None:
                continue  # released meanwhile
            if _claim_ended(holder):
                _release(holder)
                continue
            if holder.checksum == ch.checksum:
                if holder.session is None:
                    raise ApplicationError("This upload is being prepared; send the change again.",
                                           code="UPLOAD_PREPARING", status_code=409)
                return _done(ch, UPLOAD, node, session=holder.session)
            if holder.local_id == ch.local_id and holder.device_id == ctx.device_id and (
                    holder.session is not None and holder.session.status == UploadStatus.UPLOADING):
                engine.session_cancel(holder.session)
                _release(holder)
                continue
            return _conflict(ctx, ch, reason="pending", node=node)
    else:
        raise ApplicationError("This path is busy; send the change again.", code="SYNC_BUSY", status_code=409)
    try:
        session = upload_start(user=ctx.user, folder=folder, name=name, size=ch.size, checksum=ch.checksum,
                               mime_type=ch.mime_type, policy=policy, local_id=ch.local_id)
    except BaseException:
        _release(claim)
        raise
    SyncUpload.objects.filter(pk=claim.pk).update(session=session)
    return _done(ch, UPLOAD, node, session=session)
