"""LayoodStorage folder API: create, tree, delete; plus contents,
rename, move and star."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import serializers

from storage_site.core.api import PRIMARY_ERRORS, ErrorEnvelopeSerializer, MessageSerializer, PrimaryListView, PrimaryView, envelope, ok

from .. import selectors, services
from ..models import NodeKind
from .serializers import (
    BreadcrumbSerializer,
    FolderCreateSerializer,
    NameSerializer,
    NodeSerializer,
    StarSerializer,
    TargetSerializer,
)

FOLDER = envelope("FolderResponse", NodeSerializer())
ERRORS = {**PRIMARY_ERRORS, 409: ErrorEnvelopeSerializer}
ID = OpenApiParameter("id", OpenApiTypes.UUID, OpenApiParameter.PATH, description="Folder UUID")


def _folder(request, folder_id):
    return selectors.node_get(user=request.user, node_id=folder_id, kind=NodeKind.FOLDER)


class FolderCreateView(PrimaryView):
    @extend_schema(tags=["folders"], request=FolderCreateSerializer, responses={201: FOLDER, **ERRORS},
                   summary="Create a folder", description="In `parentId`, or in home when omitted.")
    def post(self, request):
        payload = FolderCreateSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        parent = selectors.folder_get_or_home(user=request.user, folder_id=payload.validated_data.get("parentId"))
        folder = services.folder_create(user=request.user, parent=parent, name=payload.validated_data["name"],
                                        description=payload.validated_data.get("description", ""),
                                        policy=payload.validated_data["onConflict"])
        return ok(render_node(request, folder), message="Folder created", status=201)


class FolderTreeView(PrimaryView):
    @extend_schema(tags=["folders"], responses={200: envelope("FolderTree", serializers.DictField()), **ERRORS},
                   summary="The folder tree",
                   description="Every live folder, nested under `children`, built from one query.")
    def get(self, request):
        return ok({"id": "root", "name": "Home", "children": selectors.folder_tree(request.user)})


class FolderDetailView(PrimaryView):
    @extend_schema(tags=["folders"], parameters=[ID],
                   responses={200: envelope("FolderDetail", serializers.DictField()), **ERRORS},
                   summary="A folder with its path and size",
                   description="`path` runs from home to the parent; `size` is every live file below it.")
    def get(self, request, id):
        folder = _folder(request, id)
        data = render_node(request, folder)
        data["path"] = BreadcrumbSerializer(selectors.breadcrumbs(folder), many=True).data
        data["size"] = services.subtree_size(folder)
        data["description"] = folder.description
        return ok(data)


class FolderContentsView(PrimaryListView):
    serializer_class = NodeSerializer

    def listing(self):
        folder = selectors.folder_get_or_home(user=self.request.user, folder_id=self.kwargs["id"])
        return selectors.nodes_for(self.request.user).filter(parent=folder).order_by("-kind", "name", "pk")

    @extend_schema(tags=["folders"], summary="List a folder's contents",
                   description="Folders first, then files, by name; `id` may be `root`. Paginated.")
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


# --- rename, move and star: one implementation for files and folders -----------------

def render_node(request, node) -> dict:
    """A node as every primary answer shows it, the caller's star included."""
    return NodeSerializer(selectors.nodes_for(request.user).get(pk=node.pk), context={"request": request}).data


# Subclasses name the `kind` and the schema (a docstring here would become its description).
class NodeRenameView(PrimaryView):
    kind: str

    def post(self, request, id):
        payload = NameSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        node = services.node_rename(node=selectors.node_get(user=request.user, node_id=id, kind=self.kind),
                                    name=payload.validated_data["name"], policy=payload.validated_data["onConflict"])
        return ok(render_node(request, node))


class NodeMoveView(PrimaryView):
    kind: str

    def post(self, request, id):
        payload = TargetSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        node = selectors.node_get(user=request.user, node_id=id, kind=self.kind)
        target = selectors.folder_get_or_home(user=request.user, folder_id=payload.validated_data["folderId"])
        node = services.node_move(node=node, target=target, name=payload.validated_data.get("name"),
                                  policy=payload.validated_data["onConflict"])
        return ok(render_node(request, node))


class NodeStarView(PrimaryView):
    kind: str

    def post(self, request, id):
        payload = StarSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        node = selectors.node_get(user=request.user, node_id=id, kind=self.kind)
        services.star_set(user=request.user, node=node, starred=payload.validated_data["starred"])
        return ok(render_node(request, node))


@extend_schema_view(post=extend_schema(tags=["folders"], parameters=[ID], request=NameSerializer,
                                       responses={200: FOLDER, **ERRORS}, summary="Rename a folder"))
class FolderRenameView(NodeRenameView):
    kind = NodeKind.FOLDER


@extend_schema_view(post=extend_schema(tags=["folders"], parameters=[ID], request=TargetSerializer,
                                       responses={200: FOLDER, **ERRORS}, summary="Move a folder",
                                       description="Not into itself or below itself (400 `INVALID_MOVE`)."))
class FolderMoveView(NodeMoveView):
    kind = NodeKind.FOLDER


@extend_schema_view(post=extend_schema(tags=["folders"], parameters=[ID], request=StarSerializer,
                                       responses={200: FOLDER, **ERRORS}, summary="Star or unstar a folder"))
class FolderStarView(NodeStarView):
    kind = NodeKind.FOLDER


class FolderDeleteView(PrimaryView):
    @extend_schema(tags=["folders"], parameters=[ID], request=None, responses={200: MessageSerializer, **ERRORS},
                   summary="Delete a folder and all its contents",
                   description="Moves the folder and everything in it to the trash, restorable as one.")
    def delete(self, request, id):
        services.node_trash(node=_folder(request, id))
        return ok(message="Folder moved to trash")
