"""Thin Celery tasks: take ids, re-read state, call a service. Safe to run twice."""

from celery import shared_task

from .push import PushTemporaryError


@shared_task(acks_late=True, autoretry_for=(PushTemporaryError,), retry_backoff=True, retry_jitter=True,
             max_retries=6, soft_time_limit=60, time_limit=90, ignore_result=True)
def push_send_task(notification_id: int) -> None:
    from .services.notifications import push_send

    push_send(notification_id=notification_id)


@shared_task(acks_late=True, soft_time_limit=240, time_limit=300, ignore_result=True)
def push_release_held_task() -> int:
    """Periodic: send messages held for quiet hours once they are over."""
    from .services.notifications import push_release_held

    ids = push_release_held()
    for pk in ids:
        push_send_task.delay(pk)
    return len(ids)


@shared_task(acks_late=True, soft_time_limit=48, time_limit=60, ignore_result=True)
def push_upload_task(upload_id: int) -> None:
    from .services.notifications import notify_upload

    notify_upload(upload_id=upload_id)


@shared_task(acks_late=True, soft_time_limit=48, time_limit=60, ignore_result=True)
def push_shared_task(node_id: int, sharer_id: int) -> None:
    from .services.notifications import notify_shared

    notify_shared(node_id=node_id, sharer_id=sharer_id)


@shared_task(acks_late=True, soft_time_limit=48, time_limit=60, ignore_result=True)
def push_storage_check_task(user_id: int) -> None:
    from .services.notifications import storage_check

    storage_check(user_id=user_id)


@shared_task(acks_late=True, soft_time_limit=48, time_limit=60, ignore_result=True)
def backup_upload_resolve_task(upload_id: int) -> None:
    from files.models import UploadSession

    from .services.backup import upload_resolve

    upload = UploadSession.objects.filter(pk=upload_id).first()
    if upload is not None:
        upload_resolve(upload=upload)


@shared_task(acks_late=True, soft_time_limit=480, time_limit=600, ignore_result=True)
def backup_sessions_expire_task() -> int:
    from .services.backup import sessions_expire

    return sessions_expire()
