from django.apps import AppConfig


class BackupsConfig(AppConfig):
    name = "backups"

    def ready(self):
        from files import signals

        from . import receivers

        signals.file_committed.connect(receivers.on_file_committed, dispatch_uid="backups.file_committed")
        signals.upload_failed.connect(receivers.on_upload_failed, dispatch_uid="backups.upload_failed")
        signals.file_shared.connect(receivers.on_file_shared, dispatch_uid="backups.file_shared")
