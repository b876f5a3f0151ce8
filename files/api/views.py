"""LayoodStorage file API: upload, list, download, delete, search,
share, info; plus the operations users expect (rename, move, copy, star,
versions, trash, usage), all with the primary envelope."""

from datetime import timezone as dt_timezone

from django.conf import settings
from django.db.models import Exists, OuterRef
from django_filters import rest_framework as filters
from django.urls import path
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import serializers

from folders import services as tree
from folders import selectors as folder_selectors
from folders.api.serializers import (
    BreadcrumbSerializer,
    NameSerializer,
    NodeSerializer,
    StarSerializer,
    TargetSerializer,
)
from folders.api.views import NodeMoveView, NodeRenameView, NodeStarView
from folders.models import Category, Node, NodeKind, Star
from storage_site.core.api import (
    PRIMARY_ERRORS,
    ErrorEnvelopeSerializer,
    MessageSerializer,
    PrimaryListView,
    PrimaryView,
    envelope,
    ok,
)
from storage_site.core.exceptions import ApplicationError
from storage_site.core.pagination import CappedPagination, KeyedPagination

from .. import selectors, uploads
from ..models import FileVersion, ShareLink
from ..services import nodes, shares, versions
from . import downloads
from .serializers import (
    ShareCreateSerializer,
    ShareLinkSerializer,
    ShareUpdateSerializer,
    UploadSerializer,
    VersionSerializer,
)
from ..uploads.http import file_received

FILE = envelope("FileResponse", NodeSerializer())
ERRORS = {**PRIMARY_ERRORS, 403: ErrorEnvelopeSerializer, 409: ErrorEnvelopeSerializer,
          413: ErrorEnvelopeSerializer, 503: ErrorEnvelopeSerializer}
ID = OpenApiParameter("id", OpenApiTypes.UUID, OpenApiParameter.PATH, description="File UUID")


def _file(request, file_id) -> Node:
    return folder_selectors.node_get(user=request.user, node_id=file_id, kind=NodeKind.FILE)


def _render(request, node: Node) -> dict:
    return NodeSerializer(node, context={"request": request}).data


# --- upload -------------------------------------------------------------------------

class FileUploadView(PrimaryView):
    @extend_schema(
        tags=["files"], request={"multipart/form-data": UploadSerializer}, responses={201: FILE, **ERRORS},
        summary="Upload a file",
        description=(
            "Multipart form: `file`, optional `folderId` (home when omitted), `name`, `onConflict`. "
            "If a file of that name exists in the folder, the upload becomes its new version (`onConflict="
            "version`, the default); `rename` keeps both, `error` answers 409. At most `UPLOAD_MAX_SIZE` bytes "
            "(100 MB by default): larger files get 413 `FILE_TOO_LARGE` and go through chunked upload. "
            "Quota is checked before the bytes are accepted (413 `STORAGE_QUOTA_EXCEEDED`). `folderId` may "
            "also come in the query; in the query or as a form field before `file`, a folder that is not "
            "yours is refused (404) before a byte is stored; a field after `file` is checked once the body "
            "is read, and the stored bytes are then dropped."
        ),
    )
    def post(self, request):
        def folder_of(fields):
            return tree.folder_get_or_home(user=request.user, folder_id=fields.get("folderId"))

        def folder_check(fields):  # a named folder only: home is made on first use, after the bytes
            if fields.get("folderId"):
                folder_of(fields)

        with file_received(request, UploadSerializer, too_large=too_large_message(),
                           before_file=folder_check) as (data, reservation):
            upload = data["file"]
            folder = folder_of({"folderId": data.get("folderId") or request.query_params.get("folderId")})
            node = uploads.stored_upload_commit(
                user=request.user, folder=folder, name=data.get("name") or upload.name or "",
                stored=upload.stored, content_type=upload.content_type, reservation=reservation,
                policy=data["onConflict"],
            )
        return ok(_render(request, node), message="File uploaded", status=201)


def too_large_message() -> str:
    return (f"File too large (> {settings.UPLOAD_MAX_SIZE // (1024 * 1024)} MB) for this endpoint; "
            "use chunked upload (/storage/api/v3/chunk_init/, /api/mobile/upload/init or /api/tus/).")


# --- list, info, search -------------------------------------------------------------

class UtcDateTimeFilter(filters.IsoDateTimeFilter):
    """An ISO 8601 time in UTC before it reaches SQL: Python accepts offsets PostgreSQL
    refuses (e.g. +18:18), which would otherwise be a 500."""

    def filter(self, qs, value):
        return super().filter(qs, value.astimezone(dt_timezone.utc) if value else value)


class StableOrderingFilter(filters.OrderingFilter):
    """The chosen order, then the primary key: rows that tie (same size, same time) keep
    one order, so pages neither repeat nor skip them."""

    def filter(self, qs, value):
        qs = super().filter(qs, value)
        return qs.order_by(*qs.query.order_by, "pk") if value else qs


class FileFilter(filters.FilterSet):
    folderId = filters.CharFilter(method="in_folder", help_text="Folder UUID or `root`; omitted = every folder.")
    type = filters.ChoiceFilter(field_name="category", choices=[c for c in Category.choices if c[0] != "folder"])
    starred = filters.BooleanFilter(method="is_starred")
    createdAfter = UtcDateTimeFilter(field_name="created_at", lookup_expr="gte")
    createdBefore = UtcDateTimeFilter(field_name="created_at", lookup_expr="lt")
    modifiedAfter = UtcDateTimeFilter(field_name="updated_at", lookup_expr="gte")
    ordering = StableOrderingFilter(fields=(("name", "name"), ("size", "size"), ("created_at", "createdAt"),
                                            ("updated_at", "updatedAt")))

    class Meta:
        model = Node
        fields = []

    def in_folder(self, queryset, name, value):
        folder = folder_selectors.folder_get_or_home(user=self.request.user, folder_id=value)
        return queryset.filter(parent=folder)

    def is_starred(self, queryset, name, value):
        starred = Exists(Star.objects.filter(user=self.request.user, node=OuterRef("pk")))
        return queryset.filter(starred if value else ~starred)


class FileListView(PrimaryListView):
    serializer_class = NodeSerializer
    filterset_class = FileFilter
    pagination_class = KeyedPagination

    def listing(self):
        return selectors.live_nodes_for(self.request.user).filter(kind=NodeKind.FILE).order_by("name", "pk")

    def decorate(self, nodes):
        return selectors.nodes_shown(self.request.user, nodes)

    @extend_schema(tags=["files"], summary="List files",
                   description="Paginated (`page`, `pageSize` ≤ 1000). Filters: `folderId`, `type` "
                               "(image, video, audio, document, archive, other), `starred`, `createdAfter`, "
                               "`createdBefore`, `modifiedAfter`; `ordering` by name (the default), size, "
                               "createdAt, updatedAt (prefix `-` to reverse); ties in that order by id.")
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class FileInfoView(PrimaryView):
    @extend_schema(tags=["files"], parameters=[ID], responses={200: envelope("FileInfo", serializers.DictField()),
                                                             **ERRORS},
                   summary="File details", description="The file, its folder path, version count and live links.")
    def get(self, request, id):
        node = selectors.files_for(request.user).filter(uuid=_file(request, id).uuid).get()
        data = _render(request, node)
        data["path"] = BreadcrumbSerializer(folder_selectors.breadcrumbs(node), many=True).data
        data["versionCount"] = FileVersion.objects.filter(node=node).count()
        data["shareCount"] = ShareLink.objects.filter(node=node, revoked_at__isnull=True).count()
        data["metadata"] = node.metadata
        return ok(data)


class _SearchSchema(AutoSchema):
    def get_paginated_name(self, serializer_name: str) -> str:
        # Its own component: the pagination has `totalCapped`, the file list's has not.
        return f"PaginatedSearch{serializer_name}List"


class SearchView(PrimaryListView):
    serializer_class = NodeSerializer
    pagination_class = CappedPagination
    schema = _SearchSchema()

    def listing(self):
        query = self.request.query_params.get("q", "").strip()
        if not query:
            raise ApplicationError("Give a search term in `q`.", code="VALIDATION_ERROR")
        if len(query) > 255:
            raise ApplicationError("Search term too long.", code="VALIDATION_ERROR")
        kind = self.request.query_params.get("type") or None
        if kind and kind not in Category.values + [NodeKind.FILE]:
            raise ApplicationError("Unknown type.", code="VALIDATION_ERROR")
        return selectors.NameSearch(user=self.request.user, query=query, kind=kind, decorate=self.decorate)

    def decorate(self, nodes):
        return selectors.nodes_shown(self.request.user, nodes)

    @extend_schema(tags=["files"], summary="Search files and folders by name",
                   description=f"Names containing `q` in any case, in name order, paginated. `total` counts at "
                               f"most {selectors.NameSearch.CAP:,} matches: past that it is the cap, "
                               f"`totalCapped` is true and pages stop there (refine the term to see the rest).",
                   parameters=[OpenApiParameter("q", str, required=True, description="Part of the name"),
                               OpenApiParameter("type", str, description="folder, file, image, video, audio, "
                                                                         "document, archive or other")])
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


# --- download ---------------------------------------------------------------------------

class FileDownloadView(PrimaryView):
    @extend_schema(
        tags=["files"], parameters=[ID, OpenApiParameter("inline", bool, description="Show in the browser "
                                                         "(images, video, audio, PDF, plain text only)")],
        responses={(200, "application/octet-stream"): OpenApiTypes.BINARY,
                   (206, "application/octet-stream"): OpenApiTypes.BINARY, 304: None, 416: None, **ERRORS},
        summary="Download a file",
        description="Streams the current version. `Range` gives 206 (seeking in video and audio); `ETag` is "
                    "the SHA-256; `If-None-Match`/`If-Modified-Since` give 304.",
    )
    def get(self, request, id):
        node = _file(request, id)
        version = versions.version_get(node=node, number=node.version)
        return downloads.stream_version(request, version, name=node.name, inline=_inline(request))


def _inline(request) -> bool:
    return request.query_params.get("inline") in ("1", "true", "yes")


# --- changes --------------------------------------------------------------------------------

class FileDeleteView(PrimaryView):
    @extend_schema(tags=["files"], parameters=[ID], request=None, responses={200: MessageSerializer, **ERRORS},
                   summary="Move a file to the trash",
                   description="Restorable from the trash until it is emptied or the retention period ends. "
                               "Trash counts toward the quota.")
    def delete(self, request, id):
        tree.node_trash(node=_file(request, id))
        return ok(message="File moved to trash")


@extend_schema_view(post=extend_schema(tags=["files"], parameters=[ID], request=NameSerializer,
                                       responses={200: FILE, **ERRORS}, summary="Rename a file"))
class FileRenameView(NodeRenameView):
    kind = NodeKind.FILE


@extend_schema_view(post=extend_schema(tags=["files"], parameters=[ID], request=TargetSerializer,
                                       responses={200: FILE, **ERRORS}, summary="Move a file to another folder"))
class FileMoveView(NodeMoveView):
    kind = NodeKind.FILE


class FileCopyView(PrimaryView):
    @extend_schema(tags=["files"], parameters=[ID], request=TargetSerializer, responses={201: FILE, **ERRORS},
                   summary="Copy a file", description="The copy shares the stored bytes but counts toward the quota.")
    def post(self, request, id):
        payload = TargetSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        target = folder_selectors.folder_get_or_home(user=request.user, folder_id=payload.validated_data["folderId"])
        node = nodes.node_copy(user=request.user, node=_file(request, id), target=target,
                               name=payload.validated_data.get("name"), policy=payload.validated_data["onConflict"])
        return ok(_render(request, node), status=201)


@extend_schema_view(post=extend_schema(tags=["files"], parameters=[ID], request=StarSerializer,
                                       responses={200: FILE, **ERRORS}, summary="Star or unstar a file",
                                       description="`{\"starred\": false}` unstars."))
class FileStarView(NodeStarView):
    kind = NodeKind.FILE


# --- versions -----------------------------------------------------------------------------

class VersionListView(PrimaryView):
    @extend_schema(tags=["versions"], parameters=[ID],
                   responses={200: envelope("VersionList", VersionSerializer(many=True)), **ERRORS},
                   summary="List a file's versions", description="Newest first. Kept by the retention rule "
                   "(`VERSION_KEEP_MAX`, `VERSION_KEEP_DAYS`); the current one is never pruned.")
    def get(self, request, id):
        node = _file(request, id)
        items = FileVersion.objects.filter(node=node).select_related("blob", "node").order_by("-number")
        return ok(VersionSerializer(items, many=True).data)


class VersionDownloadView(PrimaryView):
    @extend_schema(tags=["versions"], parameters=[ID],
                   responses={(200, "application/octet-stream"): OpenApiTypes.BINARY, **ERRORS},
                   summary="Download one version")
    def get(self, request, id, number):
        node = _file(request, id)
        version = versions.version_get(node=node, number=number)
        return downloads.stream_version(request, version, name=node.name, inline=_inline(request))


class VersionRestoreView(PrimaryView):
    @extend_schema(tags=["versions"], parameters=[ID], request=None, responses={200: FILE, **ERRORS},
                   summary="Restore a version", description="Its content becomes a new, current version.")
    def post(self, request, id, number):
        node = versions.version_restore(user=request.user, node=_file(request, id), number=number)
        return ok(_render(request, node))


# --- share links --------------------------------------------------------------------------

class FileShareView(PrimaryView):
    @extend_schema(tags=["shares"], parameters=[ID], request=ShareCreateSerializer,
                   responses={201: envelope("ShareLinkResponse", ShareLinkSerializer()), **ERRORS},
                   summary="Create a public link",
                   description="Options: `expiresIn` (seconds), `password`, `maxDownloads`. Anyone with the "
                               "URL can download (after the password, if set) until it expires or is revoked.")
    def post(self, request, id):
        payload = ShareCreateSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        link = shares.share_create(user=request.user, node=_file(request, id), **{
            "expires_in": payload.validated_data.get("expiresIn"),
            "password": payload.validated_data.get("password"),
            "max_downloads": payload.validated_data.get("maxDownloads"),
        })
        return ok(ShareLinkSerializer(link, context={"request": request}).data, message="Share link created",
                  status=201)

    @extend_schema(tags=["shares"], parameters=[ID],
                   responses={200: envelope("ShareLinkList", ShareLinkSerializer(many=True)), **ERRORS},
                   summary="List a file's links")
    def get(self, request, id):
        links = ShareLink.objects.filter(node=_file(request, id)).select_related("node")
        return ok(ShareLinkSerializer(links, many=True, context={"request": request}).data)


class ShareDetailView(PrimaryView):
    @extend_schema(tags=["shares"], request=ShareUpdateSerializer,
                   responses={200: envelope("ShareLinkUpdated", ShareLinkSerializer()), **ERRORS},
                   summary="Change a link", description="A new password ends every earlier grant at once.")
    def patch(self, request, share_id):
        link = shares.share_get(user=request.user, share_id=share_id)
        payload = ShareUpdateSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        changes = {key: payload.validated_data[field] for field, key in
                   (("password", "password"), ("expiresIn", "expires_in"), ("maxDownloads", "max_downloads"))
                   if field in payload.validated_data}
        link = shares.share_update(link=link, **changes)
        return ok(ShareLinkSerializer(link, context={"request": request}).data)

    @extend_schema(tags=["shares"], request=None, responses={200: MessageSerializer, **ERRORS},
                   summary="Revoke a link", description="Refused from the moment this answers.")
    def delete(self, request, share_id):
        shares.share_revoke(link=shares.share_get(user=request.user, share_id=share_id))
        return ok(message="Share link revoked")


# --- trash and usage ------------------------------------------------------------------------

class TrashListView(PrimaryListView):
    serializer_class = NodeSerializer

    def listing(self):
        return selectors.trash_for(self.request.user)

    @extend_schema(tags=["trash"], summary="List the trash",
                   description=f"What was deleted (a deleted folder is one entry). Purged after "
                               f"{settings.TRASH_RETENTION_DAYS} days (`TRASH_RETENTION_DAYS`).")
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(tags=["trash"], request=None, responses={200: envelope("TrashEmptied", serializers.DictField()),
                                                             **ERRORS},
                   operation_id="trash_empty", summary="Empty the trash", description="Deletes everything in it for good; frees its bytes.")
    def delete(self, request):
        freed = nodes.trash_empty(user=request.user)
        return ok({"freedBytes": freed}, message="Trash emptied")


def _trashed(request, node_id) -> Node:
    return folder_selectors.node_get(user=request.user, node_id=node_id, include_trashed=True)


class TrashRestoreView(PrimaryView):
    @extend_schema(tags=["trash"], request=None, responses={200: envelope("Restored", NodeSerializer()), **ERRORS},
                   summary="Restore from the trash",
                   description="Back to its folder (home if that folder is gone), renamed `name (1)` if the "
                               "name was taken meanwhile.")
    def post(self, request, node_id):
        node = tree.node_restore(node=_trashed(request, node_id))
        return ok(_render(request, selectors.nodes_for(request.user).get(pk=node.pk)), message="Restored")


class TrashPurgeView(PrimaryView):
    @extend_schema(tags=["trash"], request=None, responses={200: envelope("Purged", serializers.DictField()),
                                                             **ERRORS},
                   operation_id="trash_purge", summary="Delete one trash entry for good")
    def delete(self, request, node_id):
        freed = nodes.trash_purge(user=request.user, node=_trashed(request, node_id))
        return ok({"freedBytes": freed}, message="Deleted for good")


class StorageStatsView(PrimaryView):
    @extend_schema(tags=["files"], responses={200: envelope("StorageStats", serializers.DictField()), **ERRORS},
                   summary="Storage usage",
                   description="`quota`, `used` (= `live` + `versions` + `trash`), `reserved` (uploads in "
                               "progress), `available`, `fileCount`; bytes.")
    def get(self, request):
        return ok(selectors.usage(request.user))


# --- folders that carry bytes -----------------------------------------------------------------

class FolderCopyView(PrimaryView):
    @extend_schema(tags=["folders"], request=TargetSerializer,
                   responses={201: envelope("FolderCopied", NodeSerializer()), **ERRORS},
                   summary="Copy a folder with everything in it")
    def post(self, request, id):
        payload = TargetSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        folder = folder_selectors.node_get(user=request.user, node_id=id, kind=NodeKind.FOLDER)
        target = folder_selectors.folder_get_or_home(user=request.user, folder_id=payload.validated_data["folderId"])
        node = nodes.node_copy(user=request.user, node=folder, target=target,
                               name=payload.validated_data.get("name"), policy=payload.validated_data["onConflict"])
        return ok(_render(request, node), status=201)


urls = [
    path("api/files/upload", FileUploadView.as_view(), name="upload"),
    path("api/files/list", FileListView.as_view(), name="list"),
    path("api/files/<str:id>/download", FileDownloadView.as_view(), name="download"),
    path("api/files/<str:id>/delete", FileDeleteView.as_view(), name="delete"),
    path("api/files/<str:id>/info", FileInfoView.as_view(), name="info"),
    path("api/files/<str:id>/share", FileShareView.as_view(), name="share"),
    path("api/files/<str:id>/rename", FileRenameView.as_view(), name="rename"),
    path("api/files/<str:id>/move", FileMoveView.as_view(), name="move"),
    path("api/files/<str:id>/copy", FileCopyView.as_view(), name="copy"),
    path("api/files/<str:id>/star", FileStarView.as_view(), name="star"),
    path("api/files/<str:id>/versions", VersionListView.as_view(), name="versions"),
    path("api/files/<str:id>/versions/<str:number>/download", VersionDownloadView.as_view(),
         name="version-download"),
    path("api/files/<str:id>/versions/<str:number>/restore", VersionRestoreView.as_view(),
         name="version-restore"),
    path("api/folders/<str:id>/copy", FolderCopyView.as_view(), name="folder-copy"),
    path("api/search", SearchView.as_view(), name="search"),
    path("api/shares/<str:share_id>", ShareDetailView.as_view(), name="share-detail"),
    path("api/trash", TrashListView.as_view(), name="trash"),
    path("api/trash/<str:node_id>/restore", TrashRestoreView.as_view(), name="trash-restore"),
    path("api/trash/<str:node_id>", TrashPurgeView.as_view(), name="trash-purge"),
    path("api/user/storage-stats", StorageStatsView.as_view(), name="storage-stats"),
]
