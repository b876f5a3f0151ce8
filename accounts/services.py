"""Every write of the accounts domain: sign-in, sessions, OTP challenges, users.

Each sign-in dialect (LayoodStorage, StreamVault, FileAgo, MegaVault) calls these,
so the rules (single-use codes, lockouts, refresh rotation, replay detection)
live here once.
"""

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta

import phonenumbers
from django.conf import settings
from django.contrib.auth import authenticate
from django.contrib.auth.password_validation import validate_password
from django.db import IntegrityError, transaction
from django.db.models import F, Sum, Value
from django.db.models.functions import Coalesce
from django.utils import timezone
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from storage_site.core.exceptions import (
    ApplicationError,
    InvalidCredentials,
    InvalidOtp,
    TokenInvalid,
    TooManyAttempts,
    UserInactive,
)

from .models import AppPassword, AuthSession, Client, OtpChallenge, Role, User


@dataclass(frozen=True)
class SignIn:
    user: User
    session: AuthSession
    access: str
    refresh: str
    expires_in: int  # seconds the access token is valid
    fileaccesskey: str = ""  # FileAgo sign-ins only: see fileaccesskey_user


# --- phones -------------------------------------------------------------------

def phone_normalize(raw: str) -> str:
    """Parse a phone number into E.164, or raise a 400 that says what is wrong."""
    try:
        number = phonenumbers.parse(raw, None)
    except phonenumbers.NumberParseException:
        raise ApplicationError(
            "Phone number must be in international format, e.g. +919876543210.", code="INVALID_PHONE"
        ) from None
    if not phonenumbers.is_valid_number(number):
        raise ApplicationError("Phone number is not valid.", code="INVALID_PHONE")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


# --- tokens and sessions ------------------------------------------------------

def _access_lifetime(session: AuthSession) -> timedelta:
    """Phones get longer-lived access tokens (MegaVault's "7d"): every token still
    names its server-side session, so revoking it ends them at once."""
    if session.client == Client.MOBILE:
        return getattr(settings, "MOBILE_ACCESS_TOKEN_LIFETIME", settings.ACCESS_TOKEN_LIFETIME)
    return settings.ACCESS_TOKEN_LIFETIME


def _access(session: AuthSession) -> AccessToken:
    access = AccessToken()
    access.set_exp(from_time=timezone.now(), lifetime=_access_lifetime(session))
    access["user_id"] = str(session.user.uuid)
    access["sid"] = str(session.uuid)
    return access


def _issue(session: AuthSession) -> tuple[str, str]:
    access = _access(session)
    refresh = RefreshToken()
    refresh["user_id"] = str(session.user.uuid)
    refresh["sid"] = str(session.uuid)
    refresh.set_exp(from_time=timezone.now(), lifetime=settings.SESSION_LIFETIME)
    session.refresh_jti = refresh["jti"]
    return str(access), str(refresh)


def _sign_in(user: User, *, client: str, ip_address: str | None, user_agent: str, device_id: str = "") -> SignIn:
    if not user.is_active:
        raise UserInactive()
    with transaction.atomic():
        session = AuthSession(
            user=user,
            client=client,
            ip_address=ip_address,
            user_agent=(user_agent or "")[:300],
            expires_at=timezone.now() + settings.SESSION_LIFETIME,
            device_id=device_id or "",
        )
        fileaccesskey = ""
        if client == Client.FILEAGO:
            fileaccesskey = secrets.token_urlsafe(32)
            session.fileaccesskey_hash = _fileaccesskey_hash(fileaccesskey)
        access, refresh = _issue(session)
        session.save()
    return SignIn(user, session, access, refresh, int(_access_lifetime(session).total_seconds()), fileaccesskey)


def _fileaccesskey_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def fileaccesskey_user(*, key: str) -> User | None:
    """The user a FileAgo `fileaccesskey` signs in, or None. A key belongs to the session
    its `POST /auth` made: logout, any revocation (all sessions, deactivation, an admin)
    and the session's expiry end it, and every sign-in hands out a new one."""
    if not key:
        return None
    session = (AuthSession.objects.live().select_related("user")
               .filter(fileaccesskey_hash=_fileaccesskey_hash(key)).first())
    if session is None or not session.user.is_active or session.user.is_group_account:
        return None
    return session.user


def session_refresh(*, refresh_token: str, device_id: str | None = None) -> SignIn:
    """Rotate a refresh token. A token that was already rotated is a replay: the
    session it belongs to is revoked, so a stolen token is useful at most once.

    A session bound to a device (`device_id` given at sign-in) refreshes only with
    that device's id; another id (or none) is refused before anything changes, so a
    token copied off a phone is no use elsewhere and the phone's own stays valid."""
    try:
        token = RefreshToken(refresh_token)
    except TokenError:
        raise TokenInvalid() from None
    session = AuthSession.objects.select_related("user").filter(uuid=token.get("sid")).first()
    if session is None or not session.is_live:
        raise TokenInvalid()
    if (session.device_id or device_id is not None) and not hmac.compare_digest(
            session.device_id.encode(), (device_id or "").encode()):
        raise TokenInvalid("This refresh token belongs to another device.")
    if not session.user.is_active:
        raise UserInactive()
    old_jti = token["jti"]
    access, refresh = _issue(session)
    rotated = AuthSession.objects.filter(pk=session.pk, refresh_jti=old_jti, revoked_at__isnull=True).update(
        refresh_jti=session.refresh_jti, last_seen_at=timezone.now()
    )
    if not rotated:
        session_revoke(session=session, reason="refresh_reuse")
        raise TokenInvalid("Refresh token was already used; the session has been ended.")
    return SignIn(session.user, session, access, refresh, int(_access_lifetime(session).total_seconds()))


def session_extend(*, session: AuthSession) -> SignIn:
    """Push the session's expiry out and hand out a fresh access token.
    The refresh token stays as it is."""
    session.expires_at = timezone.now() + settings.SESSION_LIFETIME
    session.last_seen_at = timezone.now()
    session.save(update_fields=["expires_at", "last_seen_at"])
    access = _access(session)
    return SignIn(session.user, session, str(access), "", int(_access_lifetime(session).total_seconds()))


def session_revoke(*, session: AuthSession, reason: str = "logout") -> None:
    AuthSession.objects.filter(pk=session.pk, revoked_at__isnull=True).update(
        revoked_at=timezone.now(), revoke_reason=reason
    )


def sessions_revoke_for_user(*, user: User, reason: str) -> int:
    return AuthSession.objects.filter(user=user, revoked_at__isnull=True).update(
        revoked_at=timezone.now(), revoke_reason=reason
    )


def sessions_revoke_for_device(*, user: User, device_id: str, reason: str = "device_removed") -> int:
    """End every session a device signed in with (the device was removed)."""
    if not device_id:
        return 0
    return AuthSession.objects.filter(user=user, device_id=device_id, revoked_at__isnull=True).update(
        revoked_at=timezone.now(), revoke_reason=reason
    )


def session_touch(*, session: AuthSession) -> None:
    """Record activity, at most once a minute per session to spare the database."""
    now = timezone.now()
    if now - session.last_seen_at > timedelta(minutes=1):
        AuthSession.objects.filter(pk=session.pk).update(last_seen_at=now)


# --- WhatsApp OTP ---------------------------------------------------------------

def _otp_hash(challenge_salt: str, code: str) -> str:
    key = settings.SECRET_KEY.encode()
    return hmac.new(key, f"{challenge_salt}:{code}".encode(), hashlib.sha256).hexdigest()


def otp_request(*, phone: str) -> None:
    """Send a fresh 6-digit code to a phone (sign-in and resend alike).

    The answer never depends on whether an account has this phone: the same
    rows are written and the same message is sent either way.
    """
    from .tasks import whatsapp_send_otp_task

    now = timezone.now()
    with transaction.atomic(durable=True):
        recent = OtpChallenge.objects.select_for_update().filter(phone=phone, created_at__gte=now - timedelta(hours=1))
        recent = list(recent.order_by("-created_at"))
        if recent and now - recent[0].created_at < settings.OTP_RESEND_INTERVAL:
            wait = settings.OTP_RESEND_INTERVAL - (now - recent[0].created_at)
            raise TooManyAttempts("A code was sent moments ago. Wait before asking again.",
                                  retry_after=wait.total_seconds() + 1)
        if len(recent) >= settings.OTP_MAX_SENDS_PER_HOUR:
            oldest = recent[-1].created_at
            raise TooManyAttempts("Too many codes requested for this number. Try again later.",
                                  retry_after=(oldest + timedelta(hours=1) - now).total_seconds() + 1)
        OtpChallenge.objects.filter(phone=phone, consumed_at__isnull=True, superseded=False).update(superseded=True)
        code = f"{secrets.randbelow(10**6):06d}"
        challenge = OtpChallenge(phone=phone, created_at=now, expires_at=now + settings.OTP_TTL, code_hash="")
        challenge.save()
        challenge.code_hash = _otp_hash(str(challenge.pk), code)
        challenge.save(update_fields=["code_hash"])
        # robust: a failing message gateway must not change the answer the caller sees.
        transaction.on_commit(lambda: whatsapp_send_otp_task.delay(phone=phone, code=code), robust=True)


def otp_verify(*, phone: str, code: str, ip_address: str | None, user_agent: str,
               client: str = Client.WEB) -> SignIn:
    """Check a code and sign in, creating a client account on a phone's first sign-in."""
    now = timezone.now()
    hour_ago = now - timedelta(hours=1)
    failures = OtpChallenge.objects.filter(phone=phone, created_at__gte=hour_ago).aggregate(n=Sum("failed_attempts"))
    if (failures["n"] or 0) >= settings.OTP_MAX_FAILURES_PER_HOUR:
        raise TooManyAttempts("Too many wrong codes for this number. Try again later.", retry_after=3600)

    challenge = (
        OtpChallenge.objects.filter(phone=phone, consumed_at__isnull=True, superseded=False, expires_at__gt=now)
        .order_by("-created_at")
        .first()
    )
    if challenge is None:
        raise InvalidOtp("No valid code for this number. Request a new one.")
    # The attempt is counted before the code is compared, in one conditional UPDATE: of
    # any number of parallel requests, at most OTP_MAX_ATTEMPTS get to compare.
    counted = OtpChallenge.objects.filter(
        pk=challenge.pk, consumed_at__isnull=True, failed_attempts__lt=settings.OTP_MAX_ATTEMPTS,
    ).update(failed_attempts=F("failed_attempts") + 1)
    if not counted:
        raise TooManyAttempts("Too many wrong codes. Request a new one.", retry_after=1)
    if not hmac.compare_digest(challenge.code_hash, _otp_hash(str(challenge.pk), code)):
        raise InvalidOtp()
    # Single use, even under two simultaneous requests with the right code; the right
    # code's attempt is not a failure.
    consumed = OtpChallenge.objects.filter(pk=challenge.pk, consumed_at__isnull=True).update(
        consumed_at=now, failed_attempts=F("failed_attempts") - 1)
    if not consumed:
        raise InvalidOtp()
    user = _user_for_phone(phone)
    return _sign_in(user, client=client, ip_address=ip_address, user_agent=user_agent)


def _user_for_phone(phone: str) -> User:
    user = User.objects.filter(phone=phone).first()
    if user is not None:
        return user
    try:
        with transaction.atomic():
            return User.objects.create_user(username=_free_username(phone), phone=phone, role=Role.CLIENT)
    except IntegrityError:  # a parallel first sign-in created it
        return User.objects.get(phone=phone)


def _free_username(phone: str) -> str:
    base = "u" + phone.lstrip("+")
    candidate = base
    while User.objects.filter(username=candidate).exists():
        candidate = f"{base}-{secrets.token_hex(3)}"
    return candidate


# --- passwords ------------------------------------------------------------------

def password_sign_in(*, identifier: str, password: str, client: str, ip_address: str | None,
                     user_agent: str, device_id: str = "") -> SignIn:
    """Sign in with an e-mail address or a username and a password. With `device_id`
    the session is bound to that device (see `session_refresh`)."""
    user = authenticate(username=identifier, password=password)
    if user is None:
        raise InvalidCredentials()
    return _sign_in(user, client=client, ip_address=ip_address, user_agent=user_agent, device_id=device_id)


def user_register(*, email: str, username: str, password: str, full_name: str = "") -> User:
    email = email.strip().lower()
    if User.objects.filter(email__iexact=email).exists():
        raise ApplicationError("A user with this e-mail already exists.", code="EMAIL_TAKEN",
                               status_code=400, details={"email": ["A user with this e-mail already exists."]})
    if User.objects.filter(username__iexact=username).exists():
        raise ApplicationError("A user with this username already exists.", code="USERNAME_TAKEN",
                               status_code=400, details={"username": ["A user with this username already exists."]})
    validate_password(password, User(username=username, email=email))
    try:
        with transaction.atomic():
            return User.objects.create_user(username=username, email=email, password=password,
                                            full_name=full_name, role=Role.CLIENT)
    except IntegrityError:
        raise ApplicationError("A user with this e-mail or username already exists.", code="USER_EXISTS") from None


def user_deactivate(*, user: User) -> None:
    with transaction.atomic(durable=True):
        User.objects.filter(pk=user.pk).update(is_active=False)
        sessions_revoke_for_user(user=user, reason="deactivated")


# --- limits -------------------------------------------------------------------

def _effective_quota():
    # The one rule: an admin's override wins, else the plan's quota, else the default.
    return Coalesce(F("storage_quota_override"), F("plan_storage_quota"), Value(settings.DEFAULT_STORAGE_QUOTA))


def user_plan_limits_set(*, user: User, plan: str, storage_quota: int | None, device_limit: int | None) -> None:
    """Give the user a plan's limits (billing calls this when a subscription starts or ends).
    `device_limit` None means no limit. Usage counters are left alone."""
    User.objects.filter(pk=user.pk).update(plan=plan, plan_storage_quota=storage_quota, device_limit=device_limit)
    User.objects.filter(pk=user.pk).update(storage_quota=_effective_quota())


def user_quota_override_set(*, user: User, storage_quota: int | None) -> None:
    """An admin's quota for the user; None returns them to their plan's quota."""
    User.objects.filter(pk=user.pk).update(storage_quota_override=storage_quota)
    User.objects.filter(pk=user.pk).update(storage_quota=_effective_quota())


def admin_ensure(*, email: str | None, password: str | None, phone: str | None) -> tuple[User, bool, str | None]:
    """Make sure the `admin` account exists. Returns it, whether it was created now,
    and the generated password when none was given (to be shown once)."""
    existing = User.objects.filter(username="admin").first()
    if existing is not None:
        return existing, False, None
    generated = None
    if not password:
        password = generated = secrets.token_urlsafe(16)
    admin = User.objects.create_superuser(
        "admin", password, email=email or None, phone=phone_normalize(phone) if phone else None, full_name="Administrator"
    )
    return admin, True, generated


# --- groups -------------------------------------------------------------------------

def group_account(*, group) -> User:
    """The storage account that owns a group's files, created on first use."""
    if group.account_id:
        return group.account
    with transaction.atomic():
        locked = type(group).objects.select_for_update().get(pk=group.pk)
        if locked.account_id is None:
            locked.account = User.objects.create_user(
                username=f"group-{group.uuid}", full_name=group.name, role=Role.CLIENT, is_group_account=True)
            locked.save(update_fields=["account"])
        group.account = locked.account
    return group.account


# --- app passwords (WebDAV and other clients that only speak HTTP Basic) -----------

APP_PASSWORD_LAST_USED_STEP = timedelta(minutes=5)  # how stale `last_used_at` may get


def _app_password_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def app_password_create(*, user: User, name: str) -> tuple[AppPassword, str]:
    """A new app password; the secret is returned here and never again."""
    secret = "-".join(secrets.token_hex(4) for _ in range(5))  # 160 bits, easy to type: 5 groups of 8
    app_password = AppPassword.objects.create(user=user, name=name.strip()[:100] or "App password",
                                              secret_hash=_app_password_hash(secret), prefix=secret[:8])
    return app_password, secret


def app_password_revoke(*, app_password: AppPassword) -> None:
    app_password.delete()


def app_password_check(*, identifier: str, secret: str) -> tuple[User, AppPassword] | None:
    """The active user and app password matching a sign-in name (username, e-mail or
    phone) and an app password's secret; None otherwise."""
    if not secret or len(secret) > 100:
        return None
    app_password = (AppPassword.objects.select_related("user")
                    .filter(secret_hash=_app_password_hash(secret.strip())).first())
    if app_password is None or not app_password.user.is_active:
        return None
    user = app_password.user
    if identifier not in (user.username, str(user.uuid)) and \
            (user.email or "").lower() != identifier.lower() and user.phone != identifier:
        return None
    now = timezone.now()
    if app_password.last_used_at is None or now - app_password.last_used_at > APP_PASSWORD_LAST_USED_STEP:
        AppPassword.objects.filter(pk=app_password.pk).update(last_used_at=now)
    return user, app_password
