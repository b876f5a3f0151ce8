from django.apps import AppConfig


class PreviewsConfig(AppConfig):
    name = "previews"

    def ready(self):
        from django.db.models.signals import post_delete

        from files.signals import file_committed

        from . import receivers
        from .models import Preview

        file_committed.connect(receivers.on_file_committed, dispatch_uid="previews.file_committed")
        post_delete.connect(receivers.on_preview_deleted, sender=Preview, dispatch_uid="previews.preview_deleted")
