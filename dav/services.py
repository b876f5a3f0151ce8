"""WebDAV writes that are not plain tree calls: storing a request body as a file.

`dav_file_store` is the one place WebDAV hands bytes to the upload engine, so it
can be rewired to another pipeline in one place.
"""

from django.conf import settings

from accounts.quota import Reservation, quota_held
from files import uploads
from files.services.blobs import blob_key_new
from folders.models import Node
from storage_site.core import storage
from storage_site.core.exceptions import FileTooLarge

from .models import DeadProperty

# Without a Content-Length (chunked), quota is held ahead of the bytes in steps of this size.
QUOTA_STEP = 8 * 1024 * 1024


class _QuotaMetered:
    """A body of unknown length: holds quota ahead of what is read (QuotaExceeded stops
    the read, and the writer then deletes what it wrote) and refuses more than the
    largest file."""

    def __init__(self, stream, reservation: Reservation):
        self.stream, self.reservation, self.read_so_far = stream, reservation, 0

    def read(self, size: int = -1) -> bytes:
        data = self.stream.read(size)
        self.read_so_far += len(data)
        if self.read_so_far > settings.UPLOAD_SESSION_MAX_SIZE:
            raise FileTooLarge()
        if self.read_so_far > self.reservation.held:
            self.reservation.grow(max(QUOTA_STEP, self.read_so_far - self.reservation.held))
        return data


def dav_file_store(*, user, folder: Node, name: str, node: Node | None, stream, size: int | None,
                   content_type: str | None) -> Node:
    """Store a request body: a new file `name` in `folder`, or a new version of `node`
    (the provider looked the name up: None means it found no entry there).
    `size` is the Content-Length, None for a chunked body. A body that ends early, or
    goes over quota, keeps nothing and holds nothing."""
    if size is not None:
        if size > settings.UPLOAD_SESSION_MAX_SIZE:
            raise FileTooLarge()
        if node is not None:
            return uploads.version_upload(user=user, node=node, stream=stream, size=size, content_type=content_type)
        return uploads.file_upload(user=user, folder=folder, name=name, stream=stream, size=size,
                                   content_type=content_type, name_seen_free=True)
    with quota_held(user=user, size=0) as reservation:
        key = blob_key_new()
        written, sha256 = storage.put_stream(key, _QuotaMetered(stream, reservation))
        stored = uploads.StoredBytes(key, written, sha256)
        if node is not None:
            return uploads.file_commit(user=user, folder=None, name=node.name, stored=stored, target=node,
                                       mime_type=uploads.mime_for(node.name, content_type), reservation=reservation)
        return uploads.stored_upload_commit(user=user, folder=folder, name=name, stored=stored,
                                            content_type=content_type, reservation=reservation,
                                            name_seen_free=True)


# --- dead properties ---------------------------------------------------------------

def property_set(*, node: Node, name: str, value: str | None) -> None:
    """Set a dead property (its XML), or remove it with `value` None."""
    if value is None:
        DeadProperty.objects.filter(node=node, name=name).delete()
    else:
        DeadProperty.objects.update_or_create(node=node, name=name, defaults={"value": value})


def properties_copy(*, source: Node, target: Node) -> None:
    DeadProperty.objects.bulk_create([DeadProperty(node=target, name=p.name, value=p.value)
                                      for p in DeadProperty.objects.filter(node=source)])
