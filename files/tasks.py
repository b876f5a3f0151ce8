from celery import shared_task

from storage_site.core.exceptions import StorageUnavailable

from . import uploads
from .services import blobs, nodes, versions


@shared_task(acks_late=True, time_limit=3600, soft_time_limit=3500)
def trash_purge_expired_task() -> int:
    return nodes.trash_purge_expired()


@shared_task(acks_late=True, time_limit=3600, soft_time_limit=3500)
def versions_prune_task() -> int:
    return versions.versions_prune()


@shared_task(acks_late=True, time_limit=3600, soft_time_limit=3500)
def blobs_collect_task() -> int:
    return blobs.blobs_collect()


@shared_task(acks_late=True, reject_on_worker_lost=True, autoretry_for=(StorageUnavailable,),
             retry_backoff=5, retry_backoff_max=300, max_retries=8, time_limit=3600, soft_time_limit=3500)
def upload_assemble_task(session_id: int) -> None:
    """Build an upload's file; re-run safely after a crash or a storage outage."""
    uploads.session_assemble(session_id)


@shared_task(acks_late=True, time_limit=3600, soft_time_limit=3500)
def uploads_expire_task() -> int:
    return uploads.sessions_expire()


@shared_task(acks_late=True, time_limit=600, soft_time_limit=550)
def uploads_resume_task() -> int:
    return uploads.assemblies_resume()
