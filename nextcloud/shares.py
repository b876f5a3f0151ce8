"""The OCS Share API (`apps/files_sharing/api/v1/shares`) over Stratus' share links:
public links (share type 3) to files, read-only, with a password and an expiry date,
made, changed and revoked by files.services.shares, the same links as the other APIs'.

Parameters come in the query string, a form body or JSON (clients use all three)."""

import json
from datetime import date, datetime, time, timedelta
from datetime import timezone as dt_timezone

from django.http import QueryDict
from django.utils import timezone

from files.models import ShareLink
from files.services import shares

from . import selectors
from .ocs import OcsError, endpoint

PUBLIC_LINK = 3
READ = 1  # Nextcloud's read permission; a public link here is never more
_UNSET = object()


def _params(request) -> dict:
    params = request.GET.dict()
    content_type = request.META.get("CONTENT_TYPE", "")
    if "json" in content_type:
        try:
            body = json.loads(request.body or b"{}")
        except ValueError:
            raise OcsError(400, "The body is not JSON.") from None
        if not isinstance(body, dict):
            raise OcsError(400, "The body must be a JSON object.")
        params.update({key: value for key, value in body.items() if value is not None})
    elif request.body and "multipart" not in content_type:
        params.update(QueryDict(request.body).dict())
    else:
        params.update(request.POST.dict())
    return params


def _expires_in(value) -> int | None:
    """Nextcloud's `expireDate` (YYYY-MM-DD; the link works through that day, UTC) as
    seconds from now; empty: no expiry."""
    if value in (None, ""):
        return None
    try:
        day = date.fromisoformat(str(value)[:10])
    except ValueError:
        raise OcsError(400, "Invalid date. Format must be YYYY-MM-DD.") from None
    end = datetime.combine(day + timedelta(days=1), time.min, tzinfo=dt_timezone.utc)
    seconds = int((end - timezone.now()).total_seconds())
    if seconds <= 0:
        raise OcsError(400, "Expiration date is in the past.")
    return seconds


def _permissions(params) -> None:
    value = params.get("permissions")
    if params.get("publicUpload", "").lower() == "true" or value not in (None, "", str(READ), READ):
        raise OcsError(400, "Public links are read-only here: permissions must be 1.")


def _password(params):
    value = params.get("password", _UNSET)
    return value if value is _UNSET else str(value)


@endpoint(methods=("GET", "POST"))
def share_list(request, version):
    if request.method == "POST":
        return _create(request)
    path = request.GET.get("path")
    node = None
    if path:
        node = selectors.own_file(user=request.user, path=path)
        if node is None:
            raise OcsError(404, "Wrong path, file/folder does not exist.")
    return [selectors.share_data(request, link) for link in selectors.shares_of(user=request.user, node=node)]


def _create(request):
    params = _params(request)
    if str(params.get("shareType", "")) != str(PUBLIC_LINK):
        raise OcsError(400, "Only public links (shareType 3) can be made here.")
    _permissions(params)
    node = selectors.own_file(user=request.user, path=params.get("path") or "")
    if node is None:  # folders too: links point to files
        raise OcsError(404, "Wrong path, file/folder does not exist.")
    password = _password(params)
    link = shares.share_create(user=request.user, node=node, expires_in=_expires_in(params.get("expireDate")),
                               password=None if password is _UNSET else password or None)
    return selectors.share_data(request, ShareLink.objects.select_related("node").get(pk=link.pk))


@endpoint(methods=("GET", "PUT", "DELETE"))
def share_detail(request, version, share_id):
    link = shares.share_get(user=request.user, share_id=share_id)
    if link.revoked_at is not None:
        raise OcsError(404, "Wrong share ID, share does not exist.")
    if request.method == "DELETE":
        shares.share_revoke(link=link)
        return []
    if request.method == "PUT":
        params = _params(request)
        _permissions(params)
        changes = {}
        if "password" in params:
            changes["password"] = _password(params) or None
        if "expireDate" in params:
            changes["expires_in"] = _expires_in(params["expireDate"])
        link = shares.share_update(link=link, **changes)
        return selectors.share_data(request, link)
    return [selectors.share_data(request, link)]
