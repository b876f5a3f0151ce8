"""Periodic maintenance (Celery beat, settings CELERY_BEAT_SCHEDULE). Thin: the work is
in operations.py, which the management commands run too."""

from celery import shared_task

from . import operations


@shared_task(acks_late=True, time_limit=3600, soft_time_limit=3500)
def usage_recompute_task() -> int:
    return len(operations.usage_recompute())


@shared_task(acks_late=True, time_limit=3600, soft_time_limit=3500)
def orphans_collect_task() -> int:
    return len(operations.orphans_collect()) + len(operations.multipart_strays_collect())
