"""Login Flow v2: a client asks to be let in, a person signs in and grants it, the
client collects an app password named after itself, once."""

import hashlib
import secrets
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from accounts import services as accounts
from accounts.models import AppPassword

from .models import FileChecksum, FileMtime, LoginFlow

# As long as Nextcloud gives a person to sign in.
LOGIN_FLOW_LIFETIME = timedelta(minutes=20)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def client_name(user_agent: str) -> str:
    """What a client calls itself: its User-Agent, as Nextcloud names app passwords."""
    return " ".join(user_agent.split())[:100] or "Nextcloud client"


def login_flow_start(*, user_agent: str) -> tuple[str, str]:
    """A new flow: (login token for the page, poll token for the client)."""
    LoginFlow.objects.filter(created_at__lt=timezone.now() - LOGIN_FLOW_LIFETIME).delete()
    login_token, poll_token = secrets.token_urlsafe(48), secrets.token_urlsafe(48)
    LoginFlow.objects.create(login_token_hash=_hash(login_token), poll_token_hash=_hash(poll_token),
                             client_name=client_name(user_agent))
    return login_token, poll_token


def _live():
    return LoginFlow.objects.filter(created_at__gte=timezone.now() - LOGIN_FLOW_LIFETIME)


def login_flow_by_login_token(login_token: str) -> LoginFlow | None:
    return _live().filter(login_token_hash=_hash(login_token), granted_by__isnull=True).first()


def login_flow_grant(*, flow: LoginFlow, user) -> bool:
    """False when the flow was granted, collected or expired in the meantime."""
    return bool(_live().filter(pk=flow.pk, granted_by__isnull=True).update(granted_by=user))


def login_flow_collect(*, poll_token: str) -> tuple[LoginFlow, AppPassword, str] | None:
    """The granted flow and its new app password with the secret, exactly once; None
    until granted (and for an unknown, expired or already collected token)."""
    with transaction.atomic():
        flow = (_live().select_for_update().select_related("granted_by")
                .filter(poll_token_hash=_hash(poll_token), granted_by__isnull=False).first())
        if flow is None or not flow.granted_by.is_active:
            return None
        flow.delete()
        app_password, secret = accounts.app_password_create(user=flow.granted_by, name=flow.client_name)
    return flow, app_password, secret


def file_mtime_set(*, node, mtime: float) -> None:
    """Keep the modification time a client gave this content (X-OC-Mtime)."""
    FileMtime.objects.update_or_create(node=node, defaults={"version": node.version, "mtime": mtime})


def file_checksum_set(*, node, checksum: str) -> None:
    """Keep the checksum a client sent with this content and the server verified (OC-Checksum)."""
    FileChecksum.objects.update_or_create(node=node, defaults={"version": node.version, "checksum": checksum})
