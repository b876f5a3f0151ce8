"""Reactions to the files domain's signals (connected in `BackupsConfig.ready`).
They only hand ids to tasks or services; the rules live in the services."""

from files.models import UploadSource

# Background (chunked) uploads a person is not watching: their end is worth a push.
# Backup sessions get one summary push instead of one per file; bulk folder uploads
# and plain uploads are watched in the browser.
NOTIFY_SOURCES = [UploadSource.MEGAVAULT, UploadSource.STREAMVAULT, UploadSource.TUS, UploadSource.SYNC]


def on_file_committed(sender, *, node, blob, user, created, upload_id=None, source="", **kwargs):
    from .services.notifications import storage_check_queue
    from .tasks import backup_upload_resolve_task, push_upload_task

    if upload_id and source == UploadSource.BACKUP:
        backup_upload_resolve_task.delay(upload_id)
    elif upload_id and source in NOTIFY_SOURCES:
        push_upload_task.delay(upload_id)
    if not getattr(user, "is_group_account", False):
        storage_check_queue(user_id=user.pk)


def on_upload_failed(sender, *, session, code, message, **kwargs):
    from .tasks import backup_upload_resolve_task, push_upload_task

    if session.source == UploadSource.BACKUP:
        backup_upload_resolve_task.delay(session.pk)
    elif session.source in NOTIFY_SOURCES and code != "CANCELLED":
        push_upload_task.delay(session.pk)


def on_file_shared(sender, *, node, sharer, recipient, **kwargs):
    from .tasks import push_shared_task

    push_shared_task.delay(node.pk, sharer.pk)
