from celery import shared_task
from django.conf import settings

from storage_site.core.exceptions import StorageUnavailable

from . import services


# No reject_on_worker_lost: a file that kills its worker (OOM) must not come back
# forever; the sweep marks such rows failed.
@shared_task(acks_late=True, ignore_result=True, autoretry_for=(StorageUnavailable,), retry_backoff=5,
             retry_backoff_max=300, max_retries=5, soft_time_limit=settings.PREVIEW_TASK_SOFT_TIME_LIMIT,
             time_limit=settings.PREVIEW_TASK_TIME_LIMIT)
def preview_generate_task(blob_id: int) -> str:
    return services.preview_generate(blob_id=blob_id)


@shared_task(acks_late=True, ignore_result=True, time_limit=600, soft_time_limit=540)
def previews_sweep_task() -> dict:
    return services.previews_sweep()
