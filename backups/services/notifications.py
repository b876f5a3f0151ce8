"""Push notifications: registration with per-category preferences and quiet hours,
and the messages the domain sends (uploads, shares, storage, security).

A message is one `Notification` row per device, queued for `push_send_task`. In the
device's quiet hours (in its own time zone) everything but security is held, and a
periodic task sends held messages once the quiet hours are over.
"""

import hashlib
import logging
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from storage_site.core.exceptions import ApplicationError

from ..models import Category, Device, Notification, NotificationStatus, PushRegistration, StorageAlert
from ..push import PushMessage, PushTemporaryError, PushTokenInvalid, backend_get

logger = logging.getLogger(__name__)

CATEGORIES = [c.value for c in Category]
UTC = ZoneInfo("UTC")
STALE_SENDING = timedelta(minutes=10)


def zone_get(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ApplicationError(f"'{name}' is not an IANA time zone (e.g. America/Los_Angeles).",
                               code="INVALID_TIMEZONE") from None


def push_register(*, device: Device, token: str, platform: str, preferences: dict,
                  quiet_hours: dict | None) -> PushRegistration:
    """Register (or replace) the device's push token and preferences. A token belongs
    to one app install: any other registration holding it (another account signed in
    on the same phone before) is dropped, so nobody's messages reach someone else."""
    fields = {"token": token, "token_sha256": hashlib.sha256(token.encode()).hexdigest(), "platform": platform,
              "invalid_at": None,
              **{c: bool(preferences.get(c, True)) for c in CATEGORIES}}
    if quiet_hours is not None:
        enabled = bool(quiet_hours.get("enabled"))
        zone = quiet_hours.get("timezone") or "UTC"
        zone_get(zone)
        fields.update(quiet_enabled=enabled, quiet_start=quiet_hours.get("start"), quiet_end=quiet_hours.get("end"),
                      timezone=zone)
    with transaction.atomic():
        PushRegistration.objects.filter(token_sha256=fields["token_sha256"]).exclude(device=device).delete()
        registration, _ = PushRegistration.objects.update_or_create(device=device, defaults=fields)
    return registration


# The platforms a push service reaches; a device registered from anything else gets none.
PUSH_PLATFORMS = ("android", "ios", "web")


def device_push_token_record(*, device: Device, token: str, platform: str) -> PushRegistration | None:
    """A device registration (or a mobile sign-up) may bring the app's push token: it is
    registered with the default preferences when the device's platform can receive pushes."""
    if not token or platform not in PUSH_PLATFORMS:
        return None
    return push_register(device=device, token=token, platform=platform, preferences={}, quiet_hours=None)


def quiet_until(registration: PushRegistration, now: datetime) -> datetime | None:
    """When the registration's quiet hours end, if `now` is inside them."""
    start, end = registration.quiet_start, registration.quiet_end
    if not registration.quiet_enabled or start is None or end is None or start == end:
        return None
    zone = ZoneInfo(registration.timezone)
    local = now.astimezone(zone)
    clock = local.time().replace(tzinfo=None)
    if start < end:  # e.g. 13:00–15:00
        if not start <= clock < end:
            return None
        day = local.date()
    else:  # over midnight, e.g. 22:00–07:00
        if end <= clock < start:
            return None
        day = local.date() + timedelta(days=1) if clock >= start else local.date()
    return datetime.combine(day, end, tzinfo=zone).astimezone(UTC)


def notify(*, user, category: str, title: str, body: str, data: dict | None = None,
           exclude_device_id: int | None = None, collapse_key: str = "") -> list[Notification]:
    """Queue a message to each of the user's devices that wants this category."""
    from ..tasks import push_send_task

    registrations = PushRegistration.objects.select_related("device").filter(
        device__owner=user, device__removed_at__isnull=True, invalid_at__isnull=True, **{category: True})
    if exclude_device_id is not None:
        registrations = registrations.exclude(device_id=exclude_device_id)
    now = timezone.now()
    created = []
    with transaction.atomic():
        for registration in registrations:
            held = None if category == Category.SECURITY else quiet_until(registration, now)
            notification = Notification.objects.create(
                owner=user, device=registration.device, category=category, title=title[:200], body=body[:1000],
                data={**(data or {}), **({"collapseKey": collapse_key} if collapse_key else {})},
                status=NotificationStatus.HELD if held else NotificationStatus.QUEUED, held_until=held)
            created.append(notification)
            if not held:
                transaction.on_commit(lambda pk=notification.pk: push_send_task.delay(pk), robust=True)
    return created


def push_send(*, notification_id: int) -> None:
    """Send one queued message (the Celery task). Claims it first, so a second run
    does nothing; a temporary failure puts it back in the queue and re-raises."""
    claimed = Notification.objects.filter(pk=notification_id, status=NotificationStatus.QUEUED).update(
        status=NotificationStatus.SENDING, attempts=F("attempts") + 1, sent_at=timezone.now())
    if not claimed:
        return
    notification = Notification.objects.select_related("device", "owner").get(pk=notification_id)
    registration = PushRegistration.objects.filter(device=notification.device, invalid_at__isnull=True,
                                                   device__removed_at__isnull=True).first()
    if registration is None or not getattr(registration, notification.category):
        _finish(notification, NotificationStatus.FAILED, "The device no longer takes these notifications.")
        return
    if notification.category != Category.SECURITY:
        held = quiet_until(registration, timezone.now())
        if held:  # quiet hours began, or changed, after it was queued
            Notification.objects.filter(pk=notification.pk).update(status=NotificationStatus.HELD, held_until=held,
                                                                   sent_at=None)
            return
    message = PushMessage(
        token=registration.token, platform=registration.platform, category=notification.category,
        title=notification.title, body=notification.body,
        data={k: v for k, v in notification.data.items() if k != "collapseKey"},
        collapse_key=notification.data.get("collapseKey", ""), notification_id=str(notification.uuid),
        user_id=str(notification.owner.uuid), device_id=str(notification.device.uuid))
    try:
        backend_get().send(message)
    except PushTokenInvalid as exc:
        PushRegistration.objects.filter(pk=registration.pk, token=registration.token).update(
            invalid_at=timezone.now())
        _finish(notification, NotificationStatus.FAILED, str(exc))
        logger.info("push token of device %s dropped: %s", notification.device.uuid, exc)
        return
    except PushTemporaryError:
        Notification.objects.filter(pk=notification.pk).update(status=NotificationStatus.QUEUED, sent_at=None)
        raise
    except Exception as exc:  # a misconfiguration or a refused message: record it, do not retry
        _finish(notification, NotificationStatus.FAILED, str(exc))
        logger.warning("push %s failed: %s", notification.uuid, exc)
        return
    _finish(notification, NotificationStatus.SENT, "")


def _finish(notification: Notification, status: str, error: str) -> None:
    Notification.objects.filter(pk=notification.pk).update(status=status, error=error[:500],
                                                           sent_at=timezone.now())


def push_release_held(*, now: datetime | None = None) -> list[int]:
    """Periodic: queue held messages whose quiet hours are over (and messages a dead
    worker left half-sent). Returns the ids queued."""
    now = now or timezone.now()
    due = list(Notification.objects.filter(status=NotificationStatus.HELD, held_until__lte=now)
               .values_list("pk", flat=True)[:5000])
    stale = list(Notification.objects.filter(status=NotificationStatus.SENDING, sent_at__lt=now - STALE_SENDING)
                 .values_list("pk", flat=True)[:5000])
    Notification.objects.filter(pk__in=due, status=NotificationStatus.HELD).update(
        status=NotificationStatus.QUEUED, held_until=None)
    Notification.objects.filter(pk__in=stale, status=NotificationStatus.SENDING).update(
        status=NotificationStatus.QUEUED)
    return due + stale


# --- what the domain sends ------------------------------------------------------------

def notify_new_device(*, device_id: int) -> None:
    """Security: a new device signed in or was registered; tell the user's other devices."""
    device = Device.objects.select_related("owner").filter(pk=device_id).first()
    if device is None:
        return
    notify(user=device.owner, category=Category.SECURITY, title="New device sign-in",
           body=f"{device.name} ({device.platform}) was added to your account. If this wasn't you, remove it "
                "and change your password.",
           data={"type": "new_device", "deviceId": str(device.uuid)}, exclude_device_id=device.pk)


# A storage check after uploads: one waits per user at a time (a sync of a thousand
# small files queues a few checks, not a thousand). Any upload that finds one waiting
# committed before it runs: the mark lives STORAGE_CHECK_WAIT seconds, the check runs a
# second after (and drops the mark first, for a worker that runs it at once).
STORAGE_CHECK_WAIT = 2


def _storage_check_mark(user_id: int) -> str:
    return f"push:storage-check:{user_id}"


def storage_check_queue(*, user_id: int) -> None:
    from ..tasks import push_storage_check_task

    if cache.add(_storage_check_mark(user_id), 1, STORAGE_CHECK_WAIT):
        push_storage_check_task.apply_async((user_id,), countdown=STORAGE_CHECK_WAIT + 1)


def storage_check(*, user_id: int) -> None:
    from accounts.models import User

    cache.delete(_storage_check_mark(user_id))
    user = User.objects.filter(pk=user_id).first()
    if user is not None:
        notify_storage(user=user)


def notify_storage(*, user) -> None:
    """Storage: warn once when usage crosses the threshold; re-arm when it falls below."""
    fresh = type(user).objects.values("storage_quota", "storage_used").get(pk=user.pk)
    if not fresh["storage_quota"]:
        return
    percent = fresh["storage_used"] * 100 / fresh["storage_quota"]
    above = percent >= settings.PUSH_STORAGE_ALERT_PERCENT
    StorageAlert.objects.get_or_create(user_id=user.pk)
    changed = StorageAlert.objects.filter(user_id=user.pk, above=not above).update(above=above)
    if changed and above:
        notify(user=user, category=Category.STORAGE, title=f"Storage {int(percent)}% full",
               body=f"You have used {int(percent)}% of your storage. Free up space or upgrade your plan.",
               data={"type": "storage", "percent": int(percent)}, collapse_key="storage")


def notify_upload(*, upload_id: int) -> None:
    """Uploads: a background upload finished or failed."""
    from files.models import UploadSession, UploadStatus

    upload = UploadSession.objects.select_related("owner", "node").filter(pk=upload_id).first()
    if upload is None or upload.owner.is_group_account:
        return
    collapse = f"upload-{upload.batch_id}" if upload.batch_id else ""
    if upload.status == UploadStatus.COMPLETE:
        notify(user=upload.owner, category=Category.UPLOADS, title="Upload complete",
               body=f"{upload.name} was uploaded.",
               data={"type": "upload_complete", "fileId": str(upload.node.uuid) if upload.node else ""},
               collapse_key=collapse)
    elif upload.status in (UploadStatus.FAILED, UploadStatus.EXPIRED):
        notify(user=upload.owner, category=Category.UPLOADS, title="Upload failed",
               body=f"{upload.name} could not be uploaded: {upload.error_message or upload.error_code}",
               data={"type": "upload_failed", "uploadId": str(upload.uuid), "code": upload.error_code},
               collapse_key=collapse)


def notify_shared(*, node_id: int, sharer_id: int) -> None:
    """Shares: someone gave the user a copy of a file or folder."""
    from accounts.models import User
    from folders.models import Node

    node = Node.objects.select_related("owner").filter(pk=node_id).first()
    sharer = User.objects.filter(pk=sharer_id).first()
    if node is None or node.owner.is_group_account:
        return
    who = sharer.display_name if sharer else "Someone"
    notify(user=node.owner, category=Category.SHARES, title="New shared file",
           body=f"{who} shared {node.name} with you.",
           data={"type": "shared", "fileId": str(node.uuid), "kind": node.kind})
