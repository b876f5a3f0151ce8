from celery import shared_task
from django.db import OperationalError

from . import services


@shared_task(acks_late=True, reject_on_worker_lost=True, autoretry_for=(OperationalError,), retry_backoff=5,
             retry_backoff_max=300, max_retries=8, time_limit=120, soft_time_limit=100)
def webhook_event_process_task(event_pk: int) -> None:
    services.webhook_event_process(event_pk=event_pk)


@shared_task(acks_late=True, time_limit=600, soft_time_limit=550)
def webhook_events_retry_task() -> int:
    return services.webhook_events_retry()


@shared_task(acks_late=True, time_limit=3600, soft_time_limit=3500)
def subscriptions_expire_task() -> int:
    return services.subscriptions_expire()
