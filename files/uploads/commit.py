"""Commit: stored bytes become a file, or a new version of one, in one short
transaction (never S3 inside it): take a blob reference, write the version and turn
the held bytes into usage. Any failure releases the hold and deletes what was
written, so nothing is half-stored.
"""

from django.db import transaction

from accounts.quota import Reservation
from folders import services as tree
from folders.models import ChangeAction, Node, NodeKind
from storage_site.core import storage
from storage_site.core.exceptions import ApplicationError, NameConflict, NotFound

from .. import signals
from ..models import FileVersion
from ..services.blobs import blob_acquire
from .intake import StoredBytes, bytes_store, category_for, mime_for, target_check, upload_quota


def file_commit(*, user, folder: Node | None, name: str, stored: StoredBytes, mime_type: str,
                reservation: Reservation, policy: str = tree.ConflictPolicy.VERSION,
                target: Node | None = None, metadata: dict | None = None, created_by=None,
                keep_on_failure: bool = False, upload_id: int | None = None, source: str = "",
                name_seen_free: bool = False) -> Node:
    """Record stored bytes as a file in `folder`, or as a new version of `target`.
    `user` pays the quota; `created_by` (default `user`) is who uploaded, which
    differs for a member uploading into a group's folder. Every upload path ends
    here. On any failure the stored object is deleted, unless `keep_on_failure`
    (the upload engine keeps what it assembled, to try again). `upload_id` and `source`
    (the upload session and its door, when the file comes from one) travel with
    `file_committed`, so receivers need not look for the session. `name_seen_free`: the
    caller has just found no entry `name` in `folder` (a WebDAV PUT of a new name), so
    the file is inserted without asking first; a name taken meanwhile is still versioned."""
    try:
        if stored.size > reservation.held:
            reservation.grow(stored.size - reservation.held)
        with transaction.atomic():
            blob, created = blob_acquire(sha256=stored.sha256, size=stored.size, storage_key=stored.key)
            if not created:  # the content was stored before: drop this copy
                transaction.on_commit(lambda: storage.delete_soon(stored.key, size=stored.size))
            node = target or (None if name_seen_free else _file_node_for(folder=folder, name=name, policy=policy))
            if node is None:
                try:
                    node = tree.node_insert(parent=folder, name=name, kind=NodeKind.FILE, policy=policy,
                                            size=stored.size, mime_type=mime_type,
                                            category=category_for(mime_type, name), version=1,
                                            sha256=stored.sha256, metadata=metadata or {})
                except NameConflict:  # taken since the caller looked (the insert's own savepoint undid it)
                    node = name_seen_free and _file_node_for(folder=folder, name=name, policy=policy)
                    if not node:
                        raise
                    node = _new_version(node, stored=stored, mime_type=mime_type, metadata=metadata)
            else:
                node = _new_version(node, stored=stored, mime_type=mime_type, metadata=metadata)
            FileVersion.objects.create(node=node, number=node.version, blob=blob, size=stored.size,
                                       mime_type=mime_type, created_by=created_by or user)
            reservation.commit(stored.size)
    except BaseException:
        if not keep_on_failure:
            storage.delete(stored.key)
        raise
    reservation.committed(stored.size)
    created_new = node.version == 1
    transaction.on_commit(lambda: signals.file_committed.send_robust(
        sender=Node, node=node, blob=blob, user=user, created=created_new, upload_id=upload_id, source=source,
        head=stored.head))
    return node


def _new_version(node: Node, *, stored: StoredBytes, mime_type: str, metadata: dict | None) -> Node:
    node = Node.objects.select_for_update().get(pk=node.pk)
    if node.trashed_at is not None:
        raise NotFound("File not found.")
    node.version += 1
    node.size, node.sha256, node.mime_type = stored.size, stored.sha256, mime_type
    node.category = category_for(mime_type, node.name)
    if metadata:
        node.metadata = {**node.metadata, **metadata}
    node.save(update_fields=["version", "size", "sha256", "mime_type", "category", "metadata", "updated_at"])
    tree.journal_record(node, ChangeAction.UPDATE)
    return node


def _file_node_for(*, folder: Node, name: str, policy: str) -> Node | None:
    """The existing file an upload of `name` should become a new version of, if any."""
    if policy != tree.ConflictPolicy.VERSION:
        return None
    existing = tree.sibling_get(parent=folder, name=name)
    if existing is None:
        return None
    if existing.is_folder:
        raise NameConflict(f"'{existing.name}' is a folder.")
    return existing


def file_upload(*, user, folder: Node, name: str, stream, size: int, content_type: str | None = None,
                policy: str = tree.ConflictPolicy.VERSION, metadata: dict | None = None, created_by=None,
                name_seen_free: bool = False) -> Node:
    """Upload a whole file from a readable stream of known size (`name_seen_free`: as
    `file_commit`'s)."""
    name = target_check(user=user, folder=folder, name=name, policy=policy)
    with upload_quota(user=user, size=size) as reservation:
        stored = bytes_store(stream=stream, size=size, reservation=reservation)
        return file_commit(user=user, folder=folder, name=name, stored=stored, reservation=reservation,
                           mime_type=mime_for(name, content_type), policy=policy, metadata=metadata,
                           created_by=created_by, name_seen_free=name_seen_free)


def stored_upload_commit(*, user, folder: Node, name: str, stored: StoredBytes, content_type: str | None,
                         reservation: Reservation, policy: str = tree.ConflictPolicy.VERSION,
                         name_seen_free: bool = False) -> Node:
    """Make a file of bytes that were streamed to storage while the request was read.
    Until `file_commit` takes them, the bytes are the caller's to drop on a failure
    (`http.file_received` does)."""
    name = target_check(user=user, folder=folder, name=name, policy=policy)
    return file_commit(user=user, folder=folder, name=name, stored=stored, reservation=reservation,
                       mime_type=mime_for(name, content_type), policy=policy, name_seen_free=name_seen_free)


def version_upload(*, user, node: Node, stream, size: int, content_type: str | None = None,
                   created_by=None) -> Node:
    """Replace a file's content, keeping the old content as a version."""
    if node.is_folder:
        raise ApplicationError("Not a file.", code="NOT_A_FILE")
    with upload_quota(user=user, size=size) as reservation:
        stored = bytes_store(stream=stream, size=size, reservation=reservation)
        return file_commit(user=user, folder=None, name=node.name, stored=stored, reservation=reservation,
                           mime_type=mime_for(node.name, content_type), target=node, created_by=created_by)
