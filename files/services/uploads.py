"""Putting bytes into the tree: a stream becomes a file, or a new version of one.

Three steps, and never S3 inside a transaction: reserve quota; stream the bytes
to a fresh key while hashing them; in one short transaction take a blob
reference, write the version and turn the reservation into usage. Any failure
releases the reservation and deletes what was written, so nothing is half-stored.
"""

import mimetypes

from django.db import transaction

from accounts.quota import quota_commit, quota_release, quota_reserve
from folders import services as tree
from folders.models import Category, ChangeAction, Node, NodeKind
from storage_site.core import storage
from storage_site.core.exceptions import ApplicationError, NameConflict

from ..models import FileVersion
from .blobs import blob_acquire, blob_key_new


def category_for(mime_type: str, name: str) -> str:
    major = mime_type.split("/", 1)[0]
    if major in ("image", "video", "audio"):
        return major
    lowered = name.lower()
    if lowered.endswith((".zip", ".tar", ".gz", ".tgz", ".bz2", ".xz", ".7z", ".rar", ".zst")):
        return Category.ARCHIVE
    if mime_type in ("application/pdf", "application/rtf", "application/json") or major == "text" or \
            lowered.endswith((".doc", ".docx", ".xls", ".xlsx", ".ppt", ".pptx", ".odt", ".ods", ".odp", ".md",
                              ".csv", ".txt", ".epub")):
        return Category.DOCUMENT
    return Category.OTHER


def mime_for(name: str, declared: str | None) -> str:
    guessed, _ = mimetypes.guess_type(name)
    if declared and declared not in ("application/octet-stream", "") and "/" in declared and len(declared) < 200:
        return declared.split(";")[0].strip().lower()
    return guessed or "application/octet-stream"


def bytes_store(*, user, stream, size: int) -> tuple[str, str]:
    """Reserve `size` bytes of quota and stream them to a fresh key.
    Returns (key, sha256); on failure nothing stays reserved or stored."""
    quota_reserve(user=user, size=size)
    key = blob_key_new()
    try:
        written, sha256 = storage.put_stream(key, stream, size_hint=size)
        if written != size:
            raise ApplicationError(f"Expected {size} bytes, received {written}.", code="INCOMPLETE_UPLOAD")
    except BaseException:
        quota_release(user=user, size=size)
        storage.delete(key)
        raise
    return key, sha256


def file_commit(*, user, folder: Node, name: str, key: str, sha256: str, size: int, mime_type: str,
                policy: str = tree.ConflictPolicy.VERSION, target: Node | None = None,
                metadata: dict | None = None) -> Node:
    """Record stored bytes as a file in `folder` (or as a new version of `target`).
    The reservation of `size` bytes becomes usage. Used by every upload path."""
    try:
        with transaction.atomic():
            blob, created = blob_acquire(sha256=sha256, size=size, storage_key=key)
            if not created:
                transaction.on_commit(lambda: storage.delete(key))
            node = target
            if node is None:
                node = _file_node_for(folder=folder, name=name, policy=policy)
            if node is None:
                node = tree.node_insert(parent=folder, name=name, kind=NodeKind.FILE, policy=policy,
                                        size=size, mime_type=mime_type, category=category_for(mime_type, name),
                                        version=1, sha256=sha256, metadata=metadata or {})
                number = 1
            else:
                node = Node.objects.select_for_update().get(pk=node.pk)
                number = node.version + 1
                node.version, node.size, node.sha256, node.mime_type = number, size, sha256, mime_type
                node.category = category_for(mime_type, node.name)
                if metadata:
                    node.metadata = {**node.metadata, **metadata}
                node.save(update_fields=["version", "size", "sha256", "mime_type", "category", "metadata",
                                         "updated_at"])
                tree.journal_record(node, ChangeAction.UPDATE)
            FileVersion.objects.create(node=node, number=number, blob=blob, size=size, mime_type=mime_type,
                                       created_by=user)
            quota_commit(user=user, size=size)
    except BaseException:
        quota_release(user=user, size=size)
        storage.delete(key)
        raise
    return node


def _file_node_for(*, folder: Node, name: str, policy: str) -> Node | None:
    """The existing file an upload of `name` should become a new version of, if any."""
    if policy != tree.ConflictPolicy.VERSION:
        return None
    existing = tree.sibling_get(parent=folder, name=tree.name_clean(name))
    if existing is None:
        return None
    if existing.is_folder:
        raise NameConflict(f"'{existing.name}' is a folder.")
    return existing


def file_upload(*, user, folder: Node, name: str, stream, size: int, content_type: str | None = None,
                policy: str = tree.ConflictPolicy.VERSION, metadata: dict | None = None) -> Node:
    """Upload a whole file from a stream of known size."""
    name = tree.name_clean(name)
    if folder.owner_id != user.pk or not folder.is_folder or folder.trashed_at is not None:
        raise ApplicationError("Folder not found.", code="NOT_FOUND", status_code=404)
    if policy == tree.ConflictPolicy.ERROR and tree.sibling_exists(parent=folder, name=name):
        raise NameConflict(f"'{name}' already exists in this folder.")
    mime_type = mime_for(name, content_type)
    key, sha256 = bytes_store(user=user, stream=stream, size=size)
    return file_commit(user=user, folder=folder, name=name, key=key, sha256=sha256, size=size,
                       mime_type=mime_type, policy=policy, metadata=metadata)


def version_upload(*, user, node: Node, stream, size: int, content_type: str | None = None) -> Node:
    """Replace a file's content, keeping the old content as a version."""
    if node.is_folder:
        raise ApplicationError("Not a file.", code="NOT_A_FILE")
    key, sha256 = bytes_store(user=user, stream=stream, size=size)
    return file_commit(user=user, folder=node.parent, name=node.name, key=key, sha256=sha256, size=size,
                       mime_type=mime_for(node.name, content_type), target=node)
