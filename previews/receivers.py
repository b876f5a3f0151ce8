"""Reactions to other apps' events, connected in PreviewsConfig.ready()."""

import logging

from . import services

logger = logging.getLogger(__name__)


def on_file_committed(sender, *, node, blob, head=None, **kwargs):
    """New content: ask for its previews. Runs after the upload committed, so a
    failure here must not fail the upload."""
    from django.conf import settings

    if not settings.PREVIEW_AUTO_GENERATE:
        return
    try:
        services.previews_request(blobs={blob.pk: node.mime_type}, retry_failed=False,
                                  heads=None if head is None else {blob.pk: head})
    except Exception:
        logger.exception("could not queue previews of blob %s", blob.pk)


def on_preview_deleted(sender, *, instance, **kwargs):
    """Rows go with their blob (CASCADE); their images go after the commit."""
    services.preview_object_delete(key=instance.storage_key)
