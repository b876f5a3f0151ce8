import ctypes
import logging
import threading
from contextlib import contextmanager

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings

from storage_site.core.exceptions import StorageUnavailable

from . import services

logger = logging.getLogger(__name__)


# No reject_on_worker_lost: a file that kills its worker (OOM) must not come back
# forever; the sweep marks such rows failed.
@shared_task(bind=True, acks_late=True, ignore_result=True, autoretry_for=(StorageUnavailable,), retry_backoff=5,
             retry_backoff_max=300, max_retries=5, soft_time_limit=settings.PREVIEW_TASK_SOFT_TIME_LIMIT,
             time_limit=settings.PREVIEW_TASK_TIME_LIMIT)
def preview_generate_task(self, blob_id: int) -> str:
    with _thread_time_limits(eager=self.request.is_eager):
        return services.preview_generate(blob_id=blob_id)


@shared_task(acks_late=True, ignore_result=True, time_limit=600, soft_time_limit=540)
def previews_sweep_task() -> dict:
    return services.previews_sweep()


@contextmanager
def _thread_time_limits(*, eager: bool):
    """Celery's time limits are signals to a prefork child, whose tasks run in its main
    thread; in the threads pool (the previews worker, deploy/previews.sh) nothing enforces
    them. There the soft limit is raised here, into the task's thread, as Celery raises
    it: at the task's next Python instruction, so a render inside one long C call ends
    that call first. A thread cannot be killed: past the hard limit it is reported, and
    the sweep fails the rows it left PROCESSING."""
    if eager or threading.current_thread() is threading.main_thread():
        yield
        return
    thread, lock, state = threading.get_ident(), threading.Lock(), {"done": False}

    def soft():
        with lock:
            if not state["done"]:
                ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread),
                                                           ctypes.py_object(SoftTimeLimitExceeded))

    def hard():
        with lock:
            if not state["done"]:
                logger.error("a preview task has run past its hard time limit (%s s) in thread %s and cannot be "
                             "stopped; restart the previews worker if it stays busy",
                             settings.PREVIEW_TASK_TIME_LIMIT, thread)

    timers = [threading.Timer(settings.PREVIEW_TASK_SOFT_TIME_LIMIT, soft),
              threading.Timer(settings.PREVIEW_TASK_TIME_LIMIT, hard)]
    for timer in timers:
        timer.daemon = True
        timer.start()
    try:
        yield
    finally:
        with lock:
            state["done"] = True
        for timer in timers:
            timer.cancel()
        ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread), None)  # one set just before the end
