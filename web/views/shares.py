"""Share pages: what a person sees when they open a share link in a browser.

The page shows what the owner chose to share (the file's name, size, type and its
preview) and nothing of the owner. Password-protected links ask for the password
first; the grant it earns is kept in a cookie scoped to the link's own path.
"""

from django.conf import settings
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from files.api.serializers import share_urls
from files.services import shares
from previews import selectors as preview_selectors
from previews.api.views import _serve as preview_serve
from previews.models import PreviewStatus, PreviewType
from storage_site.core.exceptions import ApplicationError, NotFound, ShareGone, TooManyAttempts

from ..pages import error_page, harden, page
from ..throttles import throttle

GRANT_COOKIE = "share_grant"


def _gone_page(request, exc: ApplicationError):
    if isinstance(exc, ShareGone):
        return error_page(request, status=410, title="This link has expired",
                          message="The link has expired or has been used as many times as its owner allowed. "
                                  "Ask the person who sent it for a new one.")
    return error_page(request, status=404, title="Link not found",
                      message="This link does not exist or its owner has turned it off.")


def _grant(request, link) -> str | None:
    """The cookie's grant when it still opens this link, else None."""
    grant = request.COOKIES.get(GRANT_COOKIE)
    if not link.has_password:
        return None
    try:
        shares.share_authorize(link=link, grant=grant)
    except ApplicationError:
        return None
    return grant


def _preview(link) -> str | None:
    """The best ready preview of the shared file (image, video poster, audio cover)."""
    blob_id = preview_selectors.file_blob_id(link.node)
    rows = preview_selectors.previews_of(blob_id) if blob_id else {}
    for preview_type in (PreviewType.MEDIUM, PreviewType.THUMBNAIL):
        row = rows.get(preview_type)
        if row is not None and row.status == PreviewStatus.READY:
            return row
    return None


@page
@require_http_methods(["GET", "HEAD", "POST"])
def share_page(request, token):
    try:
        link = shares.share_resolve(token=token)
    except (NotFound, ShareGone) as exc:
        return _gone_page(request, exc)
    context = {"token": token, "name": link.node.name, "size": link.node.size,
               "mime_type": link.node.mime_type or "application/octet-stream", "expires_at": link.expires_at}
    grant = _grant(request, link)
    if link.has_password and grant is None:
        if request.method != "POST":
            return render(request, "web/share_password.html", context)
        try:
            throttle(request, "share_password")
            grant = shares.share_unlock(link=link, password=request.POST.get("password", ""))
        except ApplicationError as exc:
            status = exc.status_code if isinstance(exc, TooManyAttempts) else 401
            return render(request, "web/share_password.html", {**context, "error": exc.message}, status=status)
        response = redirect(reverse("web:share", args=[token]))  # a reload must not post the password again
        response.set_cookie(GRANT_COOKIE, grant, max_age=shares.GRANT_MAX_AGE, path=request.path,
                            httponly=True, samesite="Lax", secure=request.is_secure() or settings.SESSION_COOKIE_SECURE)
        return response
    download = share_urls(token)["downloadUrl"] + (f"?grant={grant}" if grant else "")
    preview = _preview(link)
    return render(request, "web/share.html", {
        **context, "download_url": download, "has_preview": preview is not None,
        "kind": (link.node.mime_type or "").split("/")[0]})


@require_http_methods(["GET", "HEAD"])
def share_preview(request, token):
    """The shared file's preview image, for whoever may open the link (not a download)."""
    try:
        link = shares.share_resolve(token=token)
    except (NotFound, ShareGone) as exc:
        return harden(_gone_page(request, exc))
    if link.has_password and _grant(request, link) is None:
        return harden(error_page(request, status=401, title="Password needed",
                                 message="Open the link and give its password first."))
    row = _preview(link)
    if row is None:
        return harden(error_page(request, status=404, title="No preview", message="This file has no preview."))
    return preview_serve(request, row)
