"""The web drive: browse, search, file pages and their actions, trash.

Every view follows the same steps as the API's: find the node through the user's own
tree (another user's node is a 404), call one service, show the outcome. Domain errors
come back as words on the page they were asked from."""

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods, require_POST

from files import selectors as file_selectors
from files.api import downloads
from files.api.serializers import ShareCreateSerializer, share_urls
from files.models import ShareLink
from files.services import nodes, shares, versions
from folders import selectors as folder_selectors
from folders import services as tree
from folders.models import NodeKind
from previews import selectors as preview_selectors
from previews.api.views import _serve as preview_serve
from previews.models import PreviewStatus, PreviewType
from storage_site.core.exceptions import ApplicationError, NotFound

from .. import selectors
from ..pages import error_page, harden, signed_in

PAGE_SIZE = 100


def _not_found(request):
    return error_page(request, status=404, title="Not found",
                      message="There is nothing here, or it is not yours.")


def _folder_url(folder) -> str:
    return reverse("web:home") if folder.is_root else reverse("web:folder", args=[folder.uuid])


def _back(request, fallback: str):
    """Where a form came from (this site only: never `//host` or `/\\host`), else `fallback`."""
    target = request.POST.get("back", "")
    same_site = target.startswith("/") and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()})
    return target if same_site else fallback


def _act(request, action, *, success: str, fallback: str):
    """Run one service call for a form; its error becomes a message, never a 500."""
    try:
        result = action()
    except NotFound:
        return _not_found(request)
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect(_back(request, fallback))
    messages.success(request, success)
    return result or redirect(_back(request, fallback))


def _meter(user) -> dict:
    usage = file_selectors.usage(user)
    return {**usage, "percent": min(100, round(100 * usage["used"] / usage["quota"])) if usage["quota"] else 0,
            "plan": user.plan}


def _common(request) -> dict:
    # Entry links are built from these prefixes: a reverse() per row costs more than the row.
    urls = {"folder": reverse("web:folder", args=["-"])[:-1], "file": reverse("web:file", args=["-"])[:-1]}
    return {"meter": _meter(request.user), "me": request.user, "urls": urls}


# --- browse ------------------------------------------------------------------------------

@signed_in
@require_http_methods(["GET", "HEAD"])
def folder(request, id=None):
    try:
        current = tree.folder_get_or_home(user=request.user, folder_id=id)
    except NotFound:
        return _not_found(request)
    sort = request.GET.get("sort") if request.GET.get("sort") in selectors.SORTS else "name"
    descending = request.GET.get("dir") == "desc"
    entries = selectors.folder_entries(user=request.user, folder=current, sort=sort, descending=descending)
    page = Paginator(entries, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "web/folder.html", {
        **_common(request), "folder": current, "crumbs": tree.breadcrumbs(current) if not current.is_root else [],
        "page": page, "sort": sort, "descending": descending,
        "folders": folder_selectors.folder_tree(request.user)})


@signed_in
@require_http_methods(["GET", "HEAD"])
def search(request):
    query = request.GET.get("q", "").strip()[:255]
    page = None
    if query:
        found = file_selectors.NameSearch(user=request.user, query=query,
                                          decorate=lambda n: selectors.with_thumbnails(
                                              folder_selectors.nodes_shown(request.user, n)))
        page = Paginator(found, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "web/list.html", {**_common(request), "title": f"Search: {query}" if query else "Search",
                                             "page": page, "query": query, "view": "search"})


@signed_in
@require_http_methods(["GET", "HEAD"])
def starred(request):
    return render(request, "web/list.html", {**_common(request), "title": "Starred",
                                             "entries": selectors.starred(request.user), "view": "starred"})


@signed_in
@require_http_methods(["GET", "HEAD"])
def recent(request):
    return render(request, "web/list.html", {**_common(request), "title": "Recent files",
                                             "entries": selectors.recent_files(request.user), "view": "recent"})


# --- folders -----------------------------------------------------------------------------

@signed_in
@require_POST
def folder_create(request):
    def action():
        parent = tree.folder_get_or_home(user=request.user, folder_id=request.POST.get("parent"))
        tree.folder_create(user=request.user, parent=parent, name=request.POST.get("name", ""))
    return _act(request, action, success="Folder created.", fallback=reverse("web:home"))


@signed_in
@require_POST
def folder_ensure(request):
    """For folder uploads: the folder at a relative path under `parent`, made as needed.
    JSON, called by upload.js with the CSRF header."""
    parts = [p for p in request.POST.get("path", "").split("/") if p not in ("", ".")]
    try:
        parent = tree.folder_get_or_home(user=request.user, folder_id=request.POST.get("parent"))
        target = tree.folder_ensure_path(user=request.user, parent=parent, parts=parts) if parts else parent
    except ApplicationError as exc:
        return JsonResponse({"error": {"code": exc.code, "message": exc.message}}, status=exc.status_code)
    return JsonResponse({"id": str(target.uuid)})


# --- a node (file or folder) --------------------------------------------------------------

def _node(request, id, kind=None):
    return tree.node_get(user=request.user, node_id=id, kind=kind)


def _move_target(request):
    """The folder chosen in the move/copy dialog; none chosen means the home folder."""
    return tree.folder_get_or_home(user=request.user, folder_id=request.POST.get("target"))


@signed_in
@require_POST
def node_rename(request, id):
    def action():
        tree.node_rename(node=_node(request, id), name=request.POST.get("name", ""))
    return _act(request, action, success="Renamed.", fallback=reverse("web:home"))


@signed_in
@require_POST
def node_move(request, id):
    def action():
        tree.node_move(node=_node(request, id), target=_move_target(request))
    return _act(request, action, success="Moved.", fallback=reverse("web:home"))


@signed_in
@require_POST
def node_copy(request, id):
    def action():
        nodes.node_copy(user=request.user, node=_node(request, id), target=_move_target(request),
                        policy=tree.ConflictPolicy.RENAME)
    return _act(request, action, success="Copied.", fallback=reverse("web:home"))


@signed_in
@require_POST
def node_star(request, id):
    starred = request.POST.get("starred") == "1"

    def action():
        tree.star_set(user=request.user, node=_node(request, id), starred=starred)
    return _act(request, action, success="Starred." if starred else "Unstarred.", fallback=reverse("web:home"))


@signed_in
@require_POST
def node_trash(request, id):
    def action():
        node = _node(request, id)
        parent = node.parent
        tree.node_trash(node=node)
        return redirect(_folder_url(parent))  # the node's own page is gone with it
    return _act(request, action, success="Moved to the trash.", fallback=reverse("web:home"))


# --- files --------------------------------------------------------------------------------

@signed_in
@require_http_methods(["GET", "HEAD"])
def file_detail(request, id):
    try:
        node = _node(request, id, NodeKind.FILE)
    except NotFound:
        return _not_found(request)
    links = [{"link": link, **share_urls(link.token, request)}
             for link in ShareLink.objects.filter(node=node, revoked_at__isnull=True).order_by("-created_at")]
    blob_id = preview_selectors.file_blob_id(node)
    previews = preview_selectors.previews_of(blob_id) if blob_id else {}
    medium = previews.get(PreviewType.MEDIUM)
    return render(request, "web/file.html", {
        **_common(request), "node": node, "crumbs": tree.breadcrumbs(node), "links": links,
        "versions": selectors.file_versions(node), "folders": folder_selectors.folder_tree(request.user),
        "kind": (node.mime_type or "").split("/")[0], "is_pdf": node.mime_type == "application/pdf",
        "has_medium": medium is not None and medium.status == PreviewStatus.READY,
        "starred": node.stars.filter(user=request.user).exists(),
        "parent_id": str(node.parent.uuid)})  # the pickers start at the file's own folder


@signed_in
@require_http_methods(["GET", "HEAD"])
def file_content(request, id, number=None):
    """The file's bytes (Range, ETag), inline for the viewer or `?download=1` as an attachment."""
    try:
        node = _node(request, id, NodeKind.FILE)
        version = versions.version_get(node=node, number=number or node.version)
    except NotFound:
        return _not_found(request)
    # The download module's own headers (sandbox CSP, nosniff) stay: never a page of ours.
    return downloads.stream_version(request, version, name=node.name, inline=request.GET.get("download") != "1")


@signed_in
@require_http_methods(["GET", "HEAD"])
def file_preview(request, id, type):
    if type not in PreviewType.values:
        return _not_found(request)
    try:
        node = _node(request, id, NodeKind.FILE)
    except NotFound:
        return _not_found(request)
    blob_id = preview_selectors.file_blob_id(node)
    row = preview_selectors.previews_of(blob_id).get(type) if blob_id else None
    if row is None or row.status != PreviewStatus.READY:
        return error_page(request, status=404, title="No preview", message="This file has no preview yet.")
    return preview_serve(request, row)


@signed_in
@require_POST
def version_restore(request, id, number):
    def action():
        versions.version_restore(user=request.user, node=_node(request, id, NodeKind.FILE), number=number)
    return _act(request, action, success=f"Version {number} restored.",
                fallback=reverse("web:file", args=[id]))


# --- share links -------------------------------------------------------------------------

def _share_options(post) -> dict:
    """The form's fields checked by the API's own serializer (one place for the limits)."""
    days = post.get("expires_days", "").strip()
    raw = {"expiresIn": int(days) * 86400 if days.isdigit() else days,
           "maxDownloads": post.get("max_downloads", "").strip(), "password": post.get("password", "")}
    payload = ShareCreateSerializer(data={key: value for key, value in raw.items() if value not in ("", None)})
    if not payload.is_valid():
        field, errors = next(iter(payload.errors.items()))
        label = {"expiresIn": "Expiry", "maxDownloads": "Download limit", "password": "Password"}.get(field, field)
        raise ApplicationError(f"{label}: {errors[0]}", code="VALIDATION_ERROR")
    data = payload.validated_data
    return {"expires_in": data.get("expiresIn"), "password": data.get("password"),
            "max_downloads": data.get("maxDownloads")}


@signed_in
@require_POST
def share_create(request, id):
    def action():
        node = _node(request, id, NodeKind.FILE)
        shares.share_create(user=request.user, node=node, **_share_options(request.POST))
    return _act(request, action, success="Link created.", fallback=reverse("web:file", args=[id]))


@signed_in
@require_POST
def share_revoke(request, share_id):
    try:
        link = shares.share_get(user=request.user, share_id=share_id)
    except NotFound:
        return _not_found(request)
    shares.share_revoke(link=link)
    messages.success(request, "Link turned off.")
    return redirect(reverse("web:file", args=[link.node.uuid]))


@signed_in
@require_http_methods(["GET", "HEAD"])
def share_qr(request, share_id):
    """The link's page as a QR code (PNG, a few hundred bytes, made in memory)."""
    import qrcode  # loaded by the first QR code, not by every web process

    try:
        link = shares.share_get(user=request.user, share_id=share_id)
    except NotFound:
        return _not_found(request)
    image = qrcode.make(share_urls(link.token, request)["url"], box_size=6, border=2)
    response = HttpResponse(content_type="image/png")
    image.save(response, format="PNG")
    return response


# --- trash --------------------------------------------------------------------------------

@signed_in
@require_http_methods(["GET", "HEAD"])
def trash(request):
    page = Paginator(folder_selectors.trash_for(request.user), PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "web/trash.html", {**_common(request), "page": page})


@signed_in
@require_POST
def trash_restore(request, id):
    def action():
        tree.node_restore(node=tree.node_get(user=request.user, node_id=id, include_trashed=True))
    return _act(request, action, success="Restored.", fallback=reverse("web:trash"))


@signed_in
@require_POST
def trash_empty(request):
    def action():
        nodes.trash_empty(user=request.user)
    return _act(request, action, success="Trash emptied.", fallback=reverse("web:trash"))
