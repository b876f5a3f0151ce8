"""Devices: registration under the plan's device limit, settings, removal, and the
MegaVault sign-in that registers the device it signs in from."""

import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from accounts import services as accounts
from accounts.models import Client, User
from storage_site.core.exceptions import ApplicationError, NotFound

from ..models import BackupSession, BackupStatus, Device, Platform, PushRegistration


class DeviceLimitReached(ApplicationError):
    status_code = 403
    code = "DEVICE_LIMIT_REACHED"
    message = "This account has reached its device limit. Remove a device or upgrade the plan."


class DeviceNotFound(NotFound):
    code = "DEVICE_NOT_FOUND"
    message = "Device not found."


@dataclass
class DeviceInfo:
    """What a client says about the device it runs on."""

    device_id: str
    platform: str = Platform.OTHER
    model: str = ""
    os_version: str = ""
    app_version: str = ""
    name: str = ""


SETTINGS_FIELDS = {"autoUpload": "auto_upload", "backgroundSync": "background_sync", "wifiOnly": "wifi_only",
                   "uploadQuality": "upload_quality", "syncFolders": "sync_folders",
                   "maxCacheSize": "max_cache_size", "backupEnabled": "backup_enabled"}


def device_default_name(*, user: User, info: DeviceInfo) -> str:
    """"John's Pixel 7": the owner's first name and the model (or the platform)."""
    first = (user.full_name or user.username or "").split()
    owner = first[0] if first else "My"
    what = info.model or {Platform.IOS: "iPhone", Platform.ANDROID: "Android phone"}.get(info.platform, "device")
    return (f"{owner}'s {what}" if owner != "My" else f"My {what}")[:100]


def device_get(*, user: User, device_id) -> Device:
    """One of the user's live devices, by its id (our UUID) or the client's device id.
    Anything else, another user's device included, is 404 DEVICE_NOT_FOUND."""
    devices = Device.objects.for_owner(user).live()
    value = str(device_id or "").strip()
    device = None
    try:
        device = devices.filter(uuid=uuid.UUID(value)).first()
    except ValueError:  # not a UUID: the app's own id
        pass
    if device is None and value:
        device = devices.filter(device_id=value).first()
    if device is None:
        raise DeviceNotFound()
    return device


def device_register(*, user: User, info: DeviceInfo) -> tuple[Device, bool]:
    """Register the device, or update it when this `device_id` is already registered.
    Returns (device, new). A new device must fit the user's device limit (403
    DEVICE_LIMIT_REACHED, nothing written); removed devices do not count."""
    from .notifications import notify_new_device

    now = timezone.now()
    details = {"platform": info.platform or Platform.OTHER, "model": info.model[:100],
               "os_version": info.os_version[:50], "app_version": info.app_version[:50], "last_active_at": now}
    with transaction.atomic():
        # One registration at a time per user, so two phones cannot both take the last place.
        limit = User.objects.select_for_update().values_list("device_limit", flat=True).get(pk=user.pk)
        devices = Device.objects.for_owner(user)
        device = devices.live().filter(device_id=info.device_id).first()
        if device is not None:
            for field, value in details.items():
                setattr(device, field, value)
            if info.name:
                device.name = info.name[:100]
            device.save(update_fields=[*details, "name"])
            return device, False
        count = devices.live().count()
        if limit is not None and count >= limit:
            raise DeviceLimitReached(
                f"This account can have {limit} device(s) and has {count}. Remove a device or upgrade the plan.",
                details={"limit": limit, "devices": count})
        name = (info.name or device_default_name(user=user, info=info))[:100]
        # A removed device coming back keeps its history and backup folder.
        device = devices.filter(device_id=info.device_id, removed_at__isnull=False).order_by("-pk").first()
        if device is None:
            device = Device(owner=user, device_id=info.device_id[:200])
        device.removed_at = None
        device.name = name
        for field, value in details.items():
            setattr(device, field, value)
        device.save()
        transaction.on_commit(lambda: notify_new_device(device_id=device.pk), robust=True)
    return device, True


def device_settings_update(*, device: Device, changes: dict) -> Device:
    """Apply the settings the client sent (API names, see SETTINGS_FIELDS); others stay."""
    fields = [SETTINGS_FIELDS[key] for key in changes if key in SETTINGS_FIELDS]
    for key, value in changes.items():
        if key in SETTINGS_FIELDS:
            setattr(device, SETTINGS_FIELDS[key], value)
    if "name" in changes and changes["name"]:
        device.name = changes["name"][:100]
        fields.append("name")
    if fields:
        device.save(update_fields=fields)
    return device


def device_remove(*, device: Device) -> None:
    """The device stops counting, its sessions end at once (its tokens answer 401 on
    the next request), pushes to it stop, and a running backup is interrupted."""
    now = timezone.now()
    with transaction.atomic(durable=True):
        updated = Device.objects.filter(pk=device.pk, removed_at__isnull=True).update(removed_at=now)
        if not updated:
            return
        accounts.sessions_revoke_for_device(user=device.owner, device_id=device.device_id)
        PushRegistration.objects.filter(device=device).delete()
        BackupSession.objects.filter(device=device, status=BackupStatus.RUNNING).update(
            status=BackupStatus.INTERRUPTED, completed_at=now)
    device.removed_at = now


def device_touch(*, device: Device) -> None:
    """Record activity, at most once a minute."""
    now = timezone.now()
    if device.last_active_at is None or now - device.last_active_at > timedelta(minutes=1):
        Device.objects.filter(pk=device.pk).update(last_active_at=now)
        device.last_active_at = now


# --- MegaVault sign-in ---------------------------------------------------------------

@dataclass
class MobileSignIn:
    sign_in: accounts.SignIn
    device: Device
    new_device: bool
    new_account: bool


def _username_for(email: str) -> str:
    base = re.sub(r"[^\w.+-]", "", email.split("@", 1)[0])[:40] or "user"
    candidate = base
    while User.objects.filter(username__iexact=candidate).exists():
        candidate = f"{base}-{secrets.token_hex(3)}"
    return candidate


def mobile_register(*, email: str, password: str, name: str, info: DeviceInfo, ip_address: str | None,
                    user_agent: str) -> MobileSignIn:
    """MegaVault `auth/register`: create the account if the e-mail is new, else sign
    in with the password (401 when wrong); then register the device and bind the
    session to it. All or nothing: over the device limit, no account, session or
    device is left behind."""
    email = email.strip().lower()
    with transaction.atomic(durable=True):
        new_account = not User.objects.filter(email__iexact=email).exists()
        if new_account:
            accounts.user_register(email=email, username=_username_for(email), password=password,
                                   full_name=name.strip())
        sign_in = accounts.password_sign_in(identifier=email, password=password, client=Client.MOBILE,
                                            ip_address=ip_address, user_agent=user_agent,
                                            device_id=info.device_id)
        device, new_device = device_register(user=sign_in.user, info=info)
    return MobileSignIn(sign_in, device, new_device, new_account)


def mobile_refresh(*, refresh_token: str, device_id: str) -> tuple[accounts.SignIn, Device | None]:
    """Rotate a phone's refresh token; it only works with the device id it was issued to."""
    sign_in = accounts.session_refresh(refresh_token=refresh_token, device_id=device_id)
    device = Device.objects.for_owner(sign_in.user).live().filter(device_id=device_id).first()
    if device is not None:
        device_touch(device=device)
    return sign_in, device
