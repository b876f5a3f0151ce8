"""Contacts backup: each backup of a device's address book is a new version of one
file in its backup folder (`Backups/<device>/Contacts/contacts.vcf` or
`contacts.json`), so snapshots reuse file versions, blobs and the quota. A backup
identical to the latest one of that format adds no version."""

import hashlib
import io
import json
import re
import uuid

from django.conf import settings
from django.db import transaction

from accounts.quota import quota_held
from files.models import FileVersion
from files.uploads import bytes_store, file_commit
from folders import services as tree
from folders.models import Node
from storage_site.core.exceptions import ApplicationError, FileTooLarge, NotFound

from ..models import ContactFormat, ContactSnapshot, Device
from .backup import BackupDisabled, backup_folder

CONTACTS_FOLDER = "Contacts"
FILE_NAMES = {ContactFormat.VCARD: "contacts.vcf", ContactFormat.JSON: "contacts.json"}
MIME_TYPES = {ContactFormat.VCARD: "text/vcard", ContactFormat.JSON: "application/json"}
_BEGIN = re.compile(rb"^BEGIN:VCARD\s*$", re.IGNORECASE | re.MULTILINE)
_END = re.compile(rb"^END:VCARD\s*$", re.IGNORECASE | re.MULTILINE)


class InvalidContacts(ApplicationError):
    code = "INVALID_CONTACTS"
    message = "The contacts could not be read."


def contacts_parse(*, fmt: str, content) -> tuple[bytes, int]:
    """The bytes to store and the number of contacts. JSON is a list of contacts (or
    `{"contacts": [...]}`); vCard is one or more BEGIN:VCARD … END:VCARD cards."""
    if fmt == ContactFormat.JSON:
        if isinstance(content, (bytes, str)):
            try:
                content = json.loads(content)
            except ValueError:
                raise InvalidContacts("The contacts file is not valid JSON.") from None
        contacts = content.get("contacts") if isinstance(content, dict) else content
        if not isinstance(contacts, list) or not all(isinstance(c, dict) for c in contacts):
            raise InvalidContacts("JSON contacts must be a list of objects (or {\"contacts\": [...]}).")
        data = json.dumps({"contacts": contacts}, ensure_ascii=False, separators=(",", ":")).encode()
        count = len(contacts)
    else:
        data = content.encode() if isinstance(content, str) else bytes(content)
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidContacts("vCard data must be UTF-8 text.") from None
        begins, ends = len(_BEGIN.findall(data)), len(_END.findall(data))
        if begins == 0 or begins != ends:
            raise InvalidContacts("vCard data must be complete BEGIN:VCARD … END:VCARD cards.")
        count = begins
    if len(data) > settings.CONTACTS_MAX_SIZE:
        raise FileTooLarge(f"A contacts backup is at most {settings.CONTACTS_MAX_SIZE} bytes.")
    return data, count


def contacts_backup(*, device: Device, fmt: str, content) -> tuple[ContactSnapshot, bool]:
    """Store a snapshot of the device's contacts. Returns (snapshot, created)."""
    if not device.backup_enabled:
        raise BackupDisabled()
    data, count = contacts_parse(fmt=fmt, content=content)
    user = device.owner
    folder = backup_folder(device=device, subfolder=CONTACTS_FOLDER)
    name = FILE_NAMES[fmt]
    latest = ContactSnapshot.objects.filter(device=device, format=fmt).select_related("node").first()
    node = tree.sibling_get(parent=folder, name=name)
    if latest and node and latest.node_id == node.pk and node.version == latest.version:
        if hashlib.sha256(data).hexdigest() == latest.sha256:
            return latest, False
    with quota_held(user=user, size=len(data)) as reservation:
        stored = bytes_store(stream=io.BytesIO(data), size=len(data))
        with transaction.atomic():
            node = file_commit(user=user, folder=folder, name=name, stored=stored, mime_type=MIME_TYPES[fmt],
                               reservation=reservation, policy=tree.ConflictPolicy.VERSION)
            snapshot = ContactSnapshot.objects.create(
                owner=user, device=device, node=node, version=node.version, format=fmt, contact_count=count,
                size=stored.size, sha256=stored.sha256)
    return snapshot, True


def snapshots_for(user, *, device: Device | None = None):
    snapshots = ContactSnapshot.objects.filter(owner=user).select_related("device")
    return snapshots.filter(device=device) if device is not None else snapshots


def snapshot_get(*, user, snapshot_id) -> ContactSnapshot:
    try:
        snapshot_uuid = uuid.UUID(str(snapshot_id))
    except ValueError:
        raise NotFound("Snapshot not found.", code="SNAPSHOT_NOT_FOUND") from None
    snapshot = snapshots_for(user).filter(uuid=snapshot_uuid).first()
    if snapshot is None:
        raise NotFound("Snapshot not found.", code="SNAPSHOT_NOT_FOUND")
    return snapshot


def snapshot_version(snapshot: ContactSnapshot) -> FileVersion:
    """The stored version of a snapshot; gone when its file was deleted for good or
    the version was pruned (VERSION_KEEP_MAX)."""
    version = None
    if snapshot.node_id and Node.objects.filter(pk=snapshot.node_id, trashed_at__isnull=True).exists():
        version = FileVersion.objects.select_related("blob").filter(node_id=snapshot.node_id,
                                                                   number=snapshot.version).first()
    if version is None:
        raise NotFound("This snapshot's file was deleted or pruned.", code="SNAPSHOT_GONE")
    return version
