import os

from celery import Celery, signals

from storage_site.core.memory import malloc_release, malloc_tune

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "storage_site.settings")

app = Celery("storage_site")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@signals.worker_init.connect
def _worker_malloc_tune(**kwargs):
    """The same malloc settings as the web workers (storage_site/core/memory.py);
    prefork pool processes inherit them."""
    malloc_tune()


@signals.task_postrun.connect
def _task_memory_release(**kwargs):
    # An assembly or a preview moves tens of MiB through a worker that then idles.
    malloc_release()
