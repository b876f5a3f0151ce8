"""Resolving sync conflicts. Every choice keeps every version:

- `keep_remote`: the server's state stays; the local change is dropped.
- `keep_local`: the local change wins. Local metadata (`localData.name`, the
  change's rename or move) is applied; local content comes as an upload that
  becomes a new version, the server's content staying as the older version;
  a local delete moves the entry to the trash (restorable).
- `keep_both`: the server's entry stays and the local one is kept beside it:
  content as an upload of "name (conflicted copy).ext" (numbered if taken), a
  rename or move as a copy of the entry under the local name or folder; for a
  local delete there is nothing to keep besides the entry, which stays.

A conflict is claimed (open → resolving) before anything is done, so two resolve
requests do not both act; resolving again answers the stored result."""

import uuid as uuid_module
from dataclasses import dataclass

from django.utils import timezone

from folders import services as tree
from folders.models import Node
from storage_site.core.exceptions import ApplicationError, NotFound

from ...models import SyncConflict, SyncConflictStatus, SyncResolution, UploadSession
from ..nodes import node_copy
from .changes import folder_resolve, upload_start


@dataclass
class Resolved:
    conflict: SyncConflict
    node: Node | None = None  # the entry as it is now
    copy: Node | None = None  # keep_both's copy of a renamed or moved entry
    session: UploadSession | None = None  # the upload keep_local or keep_both asks for


def conflict_get(*, user, conflict_id) -> SyncConflict:
    """The user's own conflict; another user's, unknown or malformed ids are 404."""
    try:
        conflict = SyncConflict.objects.filter(owner=user, uuid=uuid_module.UUID(str(conflict_id))).first()
    except ValueError:
        conflict = None
    if conflict is None:
        raise NotFound("Conflict not found.", code="CONFLICT_NOT_FOUND")
    return conflict


def conflicted_name(name: str) -> str:
    dot = name.rfind(".")
    stem, ext = (name, "") if dot <= 0 else (name[:dot], name[dot:])
    return f"{stem} (conflicted copy){ext}"


def conflict_resolve(*, user, conflict: SyncConflict, resolution: str, local_data: dict | None = None) -> Resolved:
    if resolution not in SyncResolution.values:
        raise ApplicationError(f"`resolution` must be one of {', '.join(SyncResolution.values)}.",
                               code="VALIDATION_ERROR")
    claimed = SyncConflict.objects.filter(pk=conflict.pk, status=SyncConflictStatus.OPEN).update(
        status=SyncConflictStatus.RESOLVING)
    if not claimed:
        conflict.refresh_from_db()
        return _stored(conflict, resolution)
    try:
        done = _apply(user=user, conflict=conflict, resolution=resolution, local_data=local_data or {})
    except BaseException:
        SyncConflict.objects.filter(pk=conflict.pk).update(status=SyncConflictStatus.OPEN)
        raise
    conflict.status, conflict.resolution, conflict.resolved_at = (SyncConflictStatus.RESOLVED, resolution,
                                                                  timezone.now())
    conflict.upload_session = done.session
    conflict.result = {key: str(getattr(done, key).uuid) for key in ("node", "copy", "session")
                       if getattr(done, key) is not None}
    conflict.save(update_fields=["status", "resolution", "resolved_at", "upload_session", "result"])
    done.conflict = conflict
    return done


def _stored(conflict: SyncConflict, resolution: str) -> Resolved:
    """The answer of a conflict resolved before, for the same choice."""
    if conflict.status == SyncConflictStatus.RESOLVING:
        raise ApplicationError("This conflict is being resolved right now.", code="CONFLICT_BEING_RESOLVED",
                               status_code=409)
    if conflict.resolution != resolution:
        raise ApplicationError(f"This conflict was already resolved with {conflict.resolution}.",
                               code="CONFLICT_ALREADY_RESOLVED", status_code=409,
                               details={"resolution": conflict.resolution})
    ids = conflict.result
    nodes = {str(n.uuid): n for n in Node.objects.filter(owner_id=conflict.owner_id, trashed_at__isnull=True,
                                                        uuid__in=[ids[k] for k in ("node", "copy") if k in ids])}
    return Resolved(conflict=conflict, node=nodes.get(ids.get("node")), copy=nodes.get(ids.get("copy")),
                    session=conflict.upload_session)


def _live(node: Node | None) -> Node | None:
    if node is None:
        return None
    return Node.objects.filter(pk=node.pk, trashed_at__isnull=True).first()


def _apply(*, user, conflict: SyncConflict, resolution: str, local_data: dict) -> Resolved:
    local = conflict.local_change
    node = _live(conflict.node)
    content = conflict.action in ("upload", "update")
    if resolution == SyncResolution.KEEP_REMOTE or (
            conflict.action == "delete" and resolution == SyncResolution.KEEP_BOTH):
        return Resolved(conflict, node=node)
    if resolution == SyncResolution.KEEP_LOCAL:
        name = local_data.get("name") or (local.get("name") if conflict.action != "update" else None)
        if content:
            if node is not None:
                if name and name != node.name:
                    node = tree.node_rename(node=node, name=name)
                folder, target_name = node.parent, node.name
            else:  # the server's entry is gone: the local content comes back as a new file
                folder = folder_resolve(user=user, path=local.get("folder"))
                target_name = name or conflict.server_name
            session = upload_start(user=user, folder=folder, name=target_name, size=local["size"],
                                   checksum=local["checksum"], mime_type=local.get("mimeType", ""),
                                   policy=tree.ConflictPolicy.VERSION, local_id=conflict.local_id)
            return Resolved(conflict, node=node, session=session)
        if node is None:
            raise NotFound("The entry of this conflict is gone; resolve with keep_remote.", code="NOT_FOUND")
        if conflict.action == "rename":
            node = tree.node_rename(node=node, name=name or local["name"])
        elif conflict.action == "move":
            target = folder_resolve(user=user, path=local.get("folder"), folder_id=local.get("folderId", ""))
            node = tree.node_move(node=node, target=target, name=local.get("name") or None)
        elif conflict.action == "delete":
            tree.node_trash(node=node)
            node = None
        return Resolved(conflict, node=node)
    # keep_both
    if content:
        if node is not None:
            folder, base_name = node.parent, local_data.get("name") or node.name
        else:
            folder = folder_resolve(user=user, path=local.get("folder"))
            base_name = local_data.get("name") or local.get("name") or conflict.server_name
        session = upload_start(user=user, folder=folder, name=conflicted_name(base_name), size=local["size"],
                               checksum=local["checksum"], mime_type=local.get("mimeType", ""),
                               policy=tree.ConflictPolicy.RENAME, local_id=conflict.local_id)
        return Resolved(conflict, node=node, session=session)
    if node is None:
        raise NotFound("The entry of this conflict is gone; resolve with keep_remote.", code="NOT_FOUND")
    if conflict.action == "move":
        target = folder_resolve(user=user, path=local.get("folder"), folder_id=local.get("folderId", ""))
    else:
        target = node.parent
    copy = node_copy(user=user, node=node, target=target, name=local_data.get("name") or local.get("name") or None,
                     policy=tree.ConflictPolicy.RENAME)
    return Resolved(conflict, node=node, copy=copy)
