"""Public links: create, change, revoke, and the checks a public request passes."""

from datetime import timedelta

from django.contrib.auth.hashers import check_password, make_password
from django.core import signing
from django.core.cache import cache
from django.db.models import BigIntegerField, F, Q, Value
from django.db.models.functions import Cast
from django.utils import timezone

from folders.models import Node
from storage_site.core.exceptions import ApplicationError, NotFound, ShareGone, TooManyAttempts

from ..models import ShareLink

GRANT_SALT = "files.share-grant"
GRANT_MAX_AGE = 3600
PASSWORD_FAILURES_PER_LINK = 20  # per 10 minutes, whatever the source address
FAILURE_WINDOW = 600


def share_create(*, user, node: Node, expires_in: int | None = None, password: str | None = None,
                 max_downloads: int | None = None) -> ShareLink:
    if node.is_folder:
        raise ApplicationError("Only files can be shared by link.", code="NOT_A_FILE")
    return ShareLink.objects.create(
        node=node, created_by=user,
        expires_at=timezone.now() + timedelta(seconds=expires_in) if expires_in else None,
        password_hash=make_password(password) if password else "",
        max_downloads=max_downloads,
    )


def share_get(*, user, share_id) -> ShareLink:
    try:
        share_id = int(share_id)
    except (TypeError, ValueError):
        raise NotFound("Link not found.") from None
    link = ShareLink.objects.for_owner(user).select_related("node").filter(pk=share_id).first()
    if link is None:
        raise NotFound("Link not found.")
    return link


_UNSET = object()


def share_update(*, link: ShareLink, password=_UNSET, expires_in=_UNSET, max_downloads=_UNSET) -> ShareLink:
    fields = []
    if password is not _UNSET:
        link.password_hash = make_password(password) if password else ""
        link.password_version = F("password_version") + 1  # earlier grants stop working
        fields += ["password_hash", "password_version"]
    if expires_in is not _UNSET:
        link.expires_at = timezone.now() + timedelta(seconds=expires_in) if expires_in else None
        fields.append("expires_at")
    if max_downloads is not _UNSET:
        link.max_downloads = max_downloads
        fields.append("max_downloads")
    if fields:
        link.save(update_fields=fields)
        link.refresh_from_db()
    return link


def share_revoke(*, link: ShareLink) -> None:
    ShareLink.objects.filter(pk=link.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())


# --- the public side ------------------------------------------------------------------

def share_resolve(*, token: str) -> ShareLink:
    """The live link for a token: unknown, revoked or trashed → 404; expired or used up → 410."""
    link = ShareLink.objects.select_related("node").filter(token=token).first() if token else None
    if link is None or link.revoked_at is not None or link.node.trashed_at is not None:
        raise NotFound("Link not found.")
    if link.is_expired or link.is_exhausted:
        raise ShareGone()
    return link


def share_unlock(*, link: ShareLink, password: str) -> str:
    """Check a link's password and hand out a grant for its downloads (1 hour)."""
    key = f"share-failures:{link.pk}"
    if cache.get(key, 0) >= PASSWORD_FAILURES_PER_LINK:
        raise TooManyAttempts("Too many wrong passwords for this link. Try again later.", retry_after=FAILURE_WINDOW)
    if not link.has_password or not check_password(password, link.password_hash):
        cache.add(key, 0, FAILURE_WINDOW)
        cache.incr(key)
        raise ApplicationError("Wrong password.", code="SHARE_PASSWORD_INVALID", status_code=401)
    return signing.dumps({"link": link.pk, "pv": link.password_version}, salt=GRANT_SALT)


def share_authorize(*, link: ShareLink, grant: str | None) -> None:
    """A password-protected link needs a grant made under its current password."""
    if not link.has_password:
        return
    if not grant:
        raise ApplicationError("This link needs a password.", code="SHARE_PASSWORD_REQUIRED", status_code=401)
    try:
        data = signing.loads(grant, salt=GRANT_SALT, max_age=GRANT_MAX_AGE)
    except signing.BadSignature:
        raise ApplicationError("The grant is invalid or has expired.", code="SHARE_PASSWORD_REQUIRED",
                               status_code=401) from None
    if data.get("link") != link.pk or data.get("pv") != link.password_version:
        raise ApplicationError("The grant is no longer valid.", code="SHARE_PASSWORD_REQUIRED", status_code=401)


def share_download_charge(*, link: ShareLink, response, size: int):
    """Charge one answer of a public download against the link's limits, before any of
    its body goes out, and return the response to send.

    An answer that carries byte 0 begins a download (`download_count`, at most
    `max_downloads`). Every answer, ranges included, adds its bytes to `bytes_served`,
    which may not pass size x `max_downloads`: however a client slices the file, a
    limited link never serves more than its downloads' worth. Both are checked and
    counted in one conditional UPDATE, so parallel requests cannot pass the limit. The
    part of a body never handed to the server (the client went away) is given back when
    the response closes, so a broken-off download resumes with a Range from there; what
    was handed over but lost on the way stays charged."""
    if response.status_code not in (200, 206):
        return response  # 304, 416: no body
    length = int(response["Content-Length"])
    starts = response.status_code == 200 or response.get("Content-Range", "").startswith("bytes 0-")
    budget = Cast(Value(size), BigIntegerField()) * F("max_downloads")  # 64-bit: 1 GiB x 3 passes 2^31
    within = Q(max_downloads__isnull=True) | Q(bytes_served__lte=budget - length)
    if starts:
        within &= Q(max_downloads__isnull=True) | Q(download_count__lt=F("max_downloads"))
    charged = ShareLink.objects.filter(within, pk=link.pk, revoked_at__isnull=True).update(
        bytes_served=F("bytes_served") + length, download_count=F("download_count") + (1 if starts else 0))
    if not charged:
        raise ShareGone()
    if link.max_downloads is not None and length:
        # Streams through Python rather than sendfile(2), to know what went out.
        response.streaming_content = _GiveBackUnsent(response.streaming_content, link_id=link.pk, length=length,
                                                     counted=starts)
    return response


class _GiveBackUnsent:
    """A body that gives the link back, when the response closes, the bytes it never
    handed to the server; an answer that sent nothing (the client left first) gives
    back its download too."""

    def __init__(self, body, *, link_id: int, length: int, counted: bool):
        self._body, self._link_id, self._length, self._unsent = iter(body), link_id, length, length
        self._counted = counted

    def __iter__(self):
        return self

    def __next__(self) -> bytes:
        chunk = next(self._body)
        # Counted when handed to the server, not when the client confirms it (nothing
        # does): otherwise every broken-off answer would be one chunk for free.
        self._unsent -= len(chunk)
        return chunk

    def close(self) -> None:  # Django calls it when the response closes
        unsent, self._unsent = self._unsent, 0
        if unsent > 0:
            uncount = 1 if self._counted and unsent == self._length else 0
            ShareLink.objects.filter(pk=self._link_id).update(bytes_served=F("bytes_served") - unsent,
                                                              download_count=F("download_count") - uncount)
