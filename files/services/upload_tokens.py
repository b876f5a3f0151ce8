"""FileAgo upload tokens: `GET /api/nodes/<NODE>/upload` issues one, `POST
/upload/<token>` spends it. The token is the only credential of the upload, so it
is random (256 bits), lives a few seconds and works once."""

from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from folders.models import Node
from storage_site.core.exceptions import TokenInvalid

from ..models import UploadToken


def lifetime_seconds() -> int:
    return getattr(settings, "FILEAGO_UPLOAD_TOKEN_SECONDS", 5)


def upload_token_issue(*, user, node: Node) -> str:
    now = timezone.now()
    # Spent tokens are deleted; this clears the ones nobody used, so the table stays small.
    UploadToken.objects.filter(expires_at__lt=now).delete()
    return UploadToken.objects.create(user=user, node=node,
                                      expires_at=now + timedelta(seconds=lifetime_seconds())).token


def upload_token_spend(*, token: str) -> UploadToken:
    """The token's grant, spent: the row is deleted here, so of two racing requests
    only one gets it. Unknown, expired or used → 401."""
    grant = UploadToken.objects.select_related("user", "node").filter(token=token).first() if token else None
    if grant is None or not UploadToken.objects.filter(pk=grant.pk, expires_at__gt=timezone.now()).delete()[0]:
        raise TokenInvalid("Upload token is invalid, expired or already used.")
    return grant
