from celery import shared_task

from storage_site.core.exceptions import ServiceUnavailable

from . import whatsapp


@shared_task(acks_late=True, autoretry_for=(ServiceUnavailable,), retry_backoff=True, retry_jitter=True,
             max_retries=5, time_limit=60, soft_time_limit=50)
def whatsapp_send_otp_task(*, phone: str, code: str) -> None:
    # The code travels in the task because only its HMAC is stored; it is useless after 5 minutes.
    whatsapp.get_backend().send_otp(phone=phone, code=code)


@shared_task
def quota_holds_expire_task() -> int:
    """Give back the quota held by requests that died (their hold's lease ran out)."""
    from .quota import quota_holds_expire

    return quota_holds_expire()
