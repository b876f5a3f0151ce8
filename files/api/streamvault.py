"""StreamVault v3/v4 file and folder API, over the same core.

Tokens are capabilities: reading a folder or file by its token needs no account
(that is what the QR code is for); every change needs the owner's JWT. Ids are
integer primary keys in v3 and UUIDs in v4, as StreamVault clients expect.
"""

from django.http import Http404, StreamingHttpResponse
from django.urls import path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response

from folders import selectors
from folders import services as tree
from folders.models import Node, NodeKind
from storage_site.core import storage
from storage_site.core.api import StreamVaultView
from storage_site.core.exceptions import NotFound
from storage_site.core.fields import IntegerField

from .. import uploads
from ..services import qr, versions
from . import downloads

SV_ERROR = inline_serializer("SVFileError", fields={"message": serializers.CharField(),
                                                    "code": serializers.CharField()})
MESSAGE = inline_serializer("SVMessage", fields={"message": serializers.CharField()})
ERRORS = {400: SV_ERROR, 401: SV_ERROR, 404: SV_ERROR, 409: SV_ERROR, 413: SV_ERROR}


def human_size(size: int) -> str:
    """`23 MB`, as StreamVault shows sizes (binary units)."""
    value, unit = float(size), "B"
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if value < 1024 or unit == "TB":
            break
        value /= 1024
    text = f"{value:.0f}" if value >= 10 or unit == "B" else f"{value:.1f}".rstrip("0").rstrip(".")
    return f"{text} {unit}"


def _file_row(node: Node, folder_name: str | None = None) -> dict:
    return {"id": node.pk, "file_name": node.name, "folder": folder_name if folder_name is not None else
            (node.parent.name if node.parent and not node.parent.is_root else ""), "size": human_size(node.size)}


def _owned(request, *, pk=None, uuid=None, kind=None) -> Node:
    """One of the caller's nodes below home, by v3 integer id or v4 UUID."""
    return selectors.node_for_owner(request.user, pk=pk, uuid=uuid, kind=kind, top_level=False)


def _folder_by_token(token, *, owner=None) -> Node:
    """A folder by token (with `owner`: only one of that user's); never a top-level one."""
    node = selectors.node_by_token(token, kind=NodeKind.FOLDER, owner=owner)
    if node.is_root:
        raise NotFound()
    return node


class _Public(StreamVaultView):
    authentication_classes = []
    permission_classes = [AllowAny]


# --- v3: folders -----------------------------------------------------------------

class SVFolderCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=1024, trim_whitespace=False)
    description = serializers.CharField(required=False, allow_blank=True, max_length=10000)
    parent_token = serializers.CharField(required=False, help_text="Token of a parent folder; omitted = home.")


class SVFolderUpdateSerializer(serializers.Serializer):
    token = serializers.CharField()
    name = serializers.CharField(required=False, max_length=1024, trim_whitespace=False)
    description = serializers.CharField(required=False, allow_blank=True, max_length=10000)


class FolderCreateView(StreamVaultView):
    @extend_schema(tags=["streamvault"], request=SVFolderCreateSerializer, summary="Create a folder (v3)",
                   responses={201: inline_serializer("SVFolderCreated", fields={
                       "id": serializers.IntegerField(), "name": serializers.CharField(),
                       "token": serializers.CharField(), "message": serializers.CharField()}), **ERRORS})
    def post(self, request):
        payload = SVFolderCreateSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        parent = tree.home_get(user=request.user)
        if payload.validated_data.get("parent_token"):
            parent = _folder_by_token(payload.validated_data["parent_token"], owner=request.user)
        folder = tree.folder_create(user=request.user, parent=parent, name=payload.validated_data["name"],
                                    description=payload.validated_data.get("description", ""))
        return Response({"id": folder.pk, "name": folder.name, "token": tree.token_get(folder),
                         "message": "Folder created successfully"}, status=201)


class FolderUpdateView(StreamVaultView):
    @extend_schema(tags=["streamvault"], request=SVFolderUpdateSerializer, summary="Update a folder by token (v3)",
                   description="The owner's JWT is required; the token names the folder.",
                   responses={200: MESSAGE, **ERRORS})
    def put(self, request):
        payload = SVFolderUpdateSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        folder = _folder_by_token(payload.validated_data["token"], owner=request.user)
        if "name" in payload.validated_data:
            tree.node_rename(node=folder, name=payload.validated_data["name"])
        if "description" in payload.validated_data:
            tree.node_set_description(node=folder, description=payload.validated_data["description"])
        return Response({"message": "Folder updated successfully"})


class FolderByTokenView(_Public):
    @extend_schema(tags=["streamvault"], summary="A folder and its files, by token (v3, no account needed)",
                   responses={200: inline_serializer("SVFolder", fields={
                       "id": serializers.IntegerField(), "name": serializers.CharField(),
                       "description": serializers.CharField(), "files": serializers.ListField()}), **ERRORS})
    def get(self, request, token):
        folder = _folder_by_token(token)
        files = Node.objects.live().filter(parent=folder, kind=NodeKind.FILE).order_by("name", "pk")
        return Response({"id": folder.pk, "name": folder.name, "description": folder.description, "files": [
            {**_file_row(f, folder.name), "token": tree.token_get(f), "created_at": f.created_at} for f in files]})


# --- v3: files -------------------------------------------------------------------

class FileByTokenView(_Public):
    @extend_schema(tags=["streamvault"], summary="A file by token (v3, no account needed)",
                   responses={200: inline_serializer("SVFile", fields={
                       "id": serializers.IntegerField(), "file_name": serializers.CharField(),
                       "folder": serializers.CharField(), "size": serializers.CharField(),
                       "created_at": serializers.DateTimeField()}), **ERRORS})
    def get(self, request, token):
        node = selectors.node_by_token(token, kind=NodeKind.FILE)
        return Response({**_file_row(node), "created_at": node.created_at})


class FileByTokenDownloadView(_Public):
    @extend_schema(tags=["streamvault"], summary="Download a file by token (no account needed)",
                   description="Streams the current content; `Range` supported.",
                   responses={(200, "application/octet-stream"): OpenApiTypes.BINARY, **ERRORS})
    def get(self, request, token):
        node = selectors.node_by_token(token, kind=NodeKind.FILE)
        version = versions.version_get(node=node, number=node.version)
        return downloads.stream_version(request, version, name=node.name,
                                        inline=request.query_params.get("inline") in ("1", "true"))


class ReplaceSerializer(serializers.Serializer):
    file = serializers.FileField(allow_empty_file=True, use_url=False)


class FileReplaceView(StreamVaultView):
    @extend_schema(tags=["streamvault"], request={"multipart/form-data": ReplaceSerializer},
                   summary="Replace a file's content (v3)", description="The old content stays as a version.",
                   responses={200: MESSAGE, **ERRORS})
    def put(self, request, id):
        node = _owned(request, pk=id, kind=NodeKind.FILE)
        payload = ReplaceSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        upload = payload.validated_data["file"]
        uploads.version_upload(user=request.user, node=node, stream=upload, size=upload.size,
                               content_type=upload.content_type)
        return Response({"message": "File replaced successfully"})


class MoveSerializer(serializers.Serializer):
    file_id = IntegerField()
    folder_token = serializers.CharField()


class FileMoveView(StreamVaultView):
    @extend_schema(tags=["streamvault"], request=MoveSerializer, summary="Move a file into a folder (v3)",
                   responses={200: MESSAGE, **ERRORS})
    def post(self, request):
        payload = MoveSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        node = _owned(request, pk=payload.validated_data["file_id"], kind=NodeKind.FILE)
        folder = _folder_by_token(payload.validated_data["folder_token"], owner=request.user)
        tree.node_move(node=node, target=folder)
        return Response({"message": "File moved successfully"})


class AllFilesView(StreamVaultView):
    @extend_schema(tags=["streamvault"], summary="All of the user's files (v3)",
                   responses={200: inline_serializer("SVFileRow", many=True, fields={
                       "id": serializers.IntegerField(), "file_name": serializers.CharField(),
                       "folder": serializers.CharField(), "size": serializers.CharField()}), **ERRORS})
    def get(self, request):
        files = (Node.objects.for_owner(request.user).live().filter(kind=NodeKind.FILE)
                 .select_related("parent").order_by("pk"))
        return Response([_file_row(node) for node in files])


# --- v3: QR codes and token rotation ----------------------------------------------------

class QrView(_Public):
    @extend_schema(tags=["streamvault"], summary="A QR code that opens a folder or file (v3)",
                   description="The PNG is made once and reused; it encodes the folder's or file's URL by token.",
                   responses={200: inline_serializer("SVQr", fields={"qr_url": serializers.URLField()}), **ERRORS})
    def get(self, request, token):
        node = selectors.node_by_token(token)
        kind = "folders" if node.is_folder else "files"
        target = request.build_absolute_uri(f"/storage/api/v3/{kind}/{token}/")
        key = qr.qr_ensure(token=token, url=target)
        return Response({"qr_url": request.build_absolute_uri(f"/storage/media/{key}")})


class QrImageView(_Public):
    @extend_schema(tags=["streamvault"], summary="A QR code image",
                   responses={(200, "image/png"): OpenApiTypes.BINARY, 404: SV_ERROR})
    def get(self, request, name):
        key = f"qr/{name}.png"
        if not name.isalnum() or not storage.exists(key):
            raise Http404
        response = StreamingHttpResponse(storage.read_range(key), content_type="image/png")
        response["Cache-Control"] = "public, max-age=86400"
        response["X-Content-Type-Options"] = "nosniff"
        return response


class RotateSerializer(serializers.Serializer):
    token = serializers.CharField()


class TokenRotateView(StreamVaultView):
    @extend_schema(tags=["streamvault"], request=RotateSerializer, summary="Replace a folder's or file's token",
                   description="The old token (and its QR code) stops working at once. Owner only.",
                   responses={200: inline_serializer("SVRotated", fields={
                       "token": serializers.CharField(), "message": serializers.CharField()}), **ERRORS})
    def post(self, request):
        payload = RotateSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        node = selectors.node_by_token(payload.validated_data["token"], owner=request.user)
        return Response({"token": tree.token_rotate(node=node), "message": "Token rotated successfully"})


# --- v4 ------------------------------------------------------------------------------

class V4FileUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(required=False, max_length=1024, trim_whitespace=False)
    folder = serializers.UUIDField(required=False, allow_null=True, help_text="Target folder UUID; null = home.")


def _changes(data: dict, parent_field: str) -> dict:
    """v4 update bodies as `node_update` arguments; a field left out changes nothing."""
    changes = {"name": data.get("name")}
    if parent_field in data:
        changes["parent_id"] = data[parent_field]
    return changes


class V4FileUpdateView(StreamVaultView):
    @extend_schema(tags=["streamvault"], request=V4FileUpdateSerializer, summary="Rename or move a file (v4)",
                   description="`file` is the file's download path (storage keys never carry names).",
                   responses={200: inline_serializer("SVv4File", fields={
                       "id": serializers.UUIDField(), "name": serializers.CharField(), "token": serializers.CharField(),
                       "file_type": serializers.CharField(), "folder": serializers.UUIDField(allow_null=True),
                       "file": serializers.CharField(), "size": serializers.IntegerField()}), **ERRORS})
    def put(self, request, pk):
        node = _owned(request, uuid=pk, kind=NodeKind.FILE)
        payload = V4FileUpdateSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        node = tree.node_update(user=request.user, node=node, **_changes(payload.validated_data, "folder"))
        parent = node.parent
        return Response({
            "id": str(node.uuid), "name": node.name, "token": tree.token_get(node), "file_type": node.category,
            "folder": None if parent.is_root else str(parent.uuid),
            "file": f"/storage/api/v3/files/{node.token}/download/", "size": node.size,
        })


class V4FileDeleteView(StreamVaultView):
    @extend_schema(tags=["streamvault"], request=None, summary="Delete a file (v4)",
                   description="Moves it to the trash.", responses={200: MESSAGE, **ERRORS})
    def delete(self, request, pk):
        tree.node_trash(node=_owned(request, uuid=pk, kind=NodeKind.FILE))
        return Response({"message": "Файл успешно удалён"})


class V4FolderUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(required=False, max_length=1024, trim_whitespace=False)
    parent = serializers.UUIDField(required=False, allow_null=True, help_text="Parent folder UUID; null = home.")


class V4FolderUpdateView(StreamVaultView):
    @extend_schema(tags=["streamvault"], request=V4FolderUpdateSerializer, summary="Rename or move a folder (v4)",
                   responses={200: inline_serializer("SVv4Folder", fields={
                       "id": serializers.UUIDField(), "name": serializers.CharField(), "token": serializers.CharField(),
                       "parent": serializers.UUIDField(allow_null=True)}), **ERRORS})
    def put(self, request, pk):
        folder = _owned(request, uuid=pk, kind=NodeKind.FOLDER)
        payload = V4FolderUpdateSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        folder = tree.node_update(user=request.user, node=folder, **_changes(payload.validated_data, "parent"))
        parent = folder.parent
        return Response({"id": str(folder.uuid), "name": folder.name, "token": tree.token_get(folder),
                         "parent": None if parent.is_root else str(parent.uuid)})


class V4FolderDeleteView(StreamVaultView):
    @extend_schema(tags=["streamvault"], request=None, summary="Delete a folder and everything in it (v4)",
                   description="Moves them to the trash, restorable as one.", responses={200: MESSAGE, **ERRORS})
    def delete(self, request, pk):
        tree.node_trash(node=_owned(request, uuid=pk, kind=NodeKind.FOLDER))
        return Response({"message": "Папка и все вложения успешно удалены"})


urls = [
    path("storage/api/v3/folders/", FolderCreateView.as_view(), name="sv-folder-create"),
    path("storage/api/v3/folders/update/", FolderUpdateView.as_view(), name="sv-folder-update"),
    path("storage/api/v3/folders/<str:token>/", FolderByTokenView.as_view(), name="sv-folder"),
    path("storage/api/v3/files/replace/<str:id>/", FileReplaceView.as_view(), name="sv-file-replace"),
    path("storage/api/v3/files/<str:token>/", FileByTokenView.as_view(), name="sv-file"),
    path("storage/api/v3/files/<str:token>/download/", FileByTokenDownloadView.as_view(),
         name="sv-file-download"),
    path("storage/api/v3/files_move/", FileMoveView.as_view(), name="sv-file-move"),
    path("storage/api/v3/all_files/", AllFilesView.as_view(), name="sv-all-files"),
    path("storage/api/v3/qr/<str:token>/", QrView.as_view(), name="sv-qr"),
    path("storage/api/v3/tokens/rotate/", TokenRotateView.as_view(), name="sv-token-rotate"),
    path("storage/media/qr/<str:name>.png", QrImageView.as_view(), name="sv-qr-image"),
    path("api/v4/files/<str:pk>/update/", V4FileUpdateView.as_view(), name="sv4-file-update"),
    path("api/v4/files/<str:pk>/delete/", V4FileDeleteView.as_view(), name="sv4-file-delete"),
    path("api/v4/folders/<str:pk>/update/", V4FolderUpdateView.as_view(), name="sv4-folder-update"),
    path("api/v4/folders/<str:pk>/delete/", V4FolderDeleteView.as_view(), name="sv4-folder-delete"),
]
