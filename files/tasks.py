from celery import shared_task

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
