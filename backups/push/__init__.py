"""Push backends, chosen by `PUSH_BACKEND`: `console` (the log), `file` (JSON lines at
`PUSH_FILE_PATH`, so a test reads what a phone would receive) and `fcm` (Firebase
Cloud Messaging HTTP v1, which reaches Android and, through APNs, iOS)."""

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.utils import timezone

logger = logging.getLogger(__name__)


@dataclass
class PushMessage:
    token: str
    platform: str
    category: str
    title: str
    body: str
    data: dict = field(default_factory=dict)
    collapse_key: str = ""
    notification_id: str = ""
    user_id: str = ""
    device_id: str = ""


class PushError(Exception):
    """Sending failed for good (a bad message, a misconfiguration)."""

    code = "PUSH_FAILED"


class PushTokenInvalid(PushError):
    """The push service no longer knows the token: drop the registration."""

    code = "INVALID_TOKEN"


class PushTemporaryError(PushError):
    """Try again later (rate limit, outage, network)."""

    code = "PUSH_UNAVAILABLE"

    def __init__(self, message: str, *, retry_after: int | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class ConsoleBackend:
    def send(self, message: PushMessage) -> None:
        logger.info("push to %s (%s) [%s] %s: %s", message.device_id, message.platform, message.category,
                    message.title, message.body)


class FileBackend:
    def __init__(self, path: str | None = None):
        self.path = Path(path or settings.PUSH_FILE_PATH)

    def send(self, message: PushMessage) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = json.dumps({
            "token": message.token, "platform": message.platform, "category": message.category,
            "title": message.title, "body": message.body, "data": message.data, "collapseKey": message.collapse_key,
            "notificationId": message.notification_id, "userId": message.user_id, "deviceId": message.device_id,
            "sentAt": timezone.now().isoformat()}, ensure_ascii=False)
        with self.path.open("a", encoding="utf-8") as fh:
            fh.write(line + "\n")


def backend_get():
    name = settings.PUSH_BACKEND
    if name == "file":
        return FileBackend()
    if name == "fcm":
        from .fcm import FcmBackend

        return FcmBackend.from_settings()
    if name == "console":
        return ConsoleBackend()
    raise PushError(f"Unknown PUSH_BACKEND {name!r}; use console, file or fcm.")
