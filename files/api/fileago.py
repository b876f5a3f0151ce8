"""FileAgo node API: `/api/nodes/<NODE>...` and `/upload/<token>`.

Shapes only: what a NODE names, who may reach it and every rule live in
`files.services.fileago`. Errors render as `{"status": "error", "msg": ...}`.
"""

from django.conf import settings
from django.urls import path
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.authentication import BaseAuthentication
from rest_framework.permissions import AllowAny
from rest_framework.response import Response

from accounts.authentication import SessionJWTAuthentication
from accounts import services as account_services
from storage_site.core.api import FileAgoView, LenientJSONParser
from storage_site.core.exceptions import TokenInvalid
from storage_site.core.inputs import INT32_MAX, int_parse
from storage_site.core.parsers import JSONParser, MultiPartParser
from storage_site.core.fields import int_schema

from ..services import fileago, upload_tokens, versions
from . import downloads
from ..uploads.http import body_size_check

ERROR = inline_serializer("FileAgoNodeError", fields={"status": serializers.CharField(),
                                                      "msg": serializers.CharField()})
ERRORS = {400: ERROR, 401: ERROR, 404: ERROR, 409: ERROR, 413: ERROR}
NODE = OpenApiParameter(
    "node", str, OpenApiParameter.PATH,
    description="A node UUID, or `home`, `incoming`, `trash`, `public_shares`, `private_shares`, `favorites`, "
                "`shared_with_you`; add `:<group uuid>` for a group you belong to (e.g. `home:3d76…`).")


def _ok(msg: str, data) -> Response:
    return Response({"status": "success", "msg": msg, "data": data})


# --- nodes -----------------------------------------------------------------------------

class NodeActionSerializer(serializers.Serializer):
    """Exactly one of these fields."""

    new_dir = serializers.CharField(required=False, max_length=1024, trim_whitespace=False,
                                    help_text="Create a folder here.")
    new_name = serializers.CharField(required=False, max_length=1024, trim_whitespace=False,
                                     help_text="Rename the node.")
    starred = serializers.BooleanField(required=False, help_text="Add to (true) or remove from (false) your favorites.")
    copy_to = serializers.CharField(required=False, help_text="Copy into this folder (a NODE).")
    move_to = serializers.CharField(required=False, help_text="Move into this folder (a NODE).")
    share_copy_with = serializers.ListField(required=False, child=serializers.JSONField(), help_text=(
        "User or group UUIDs: each gets a copy in its `incoming` folder, charged to its quota. Only groups "
        "you belong to and their members (anyone else is 404, as an unknown UUID)."))

    def to_internal_value(self, data):
        given = [name for name in fileago.ACTIONS if hasattr(data, "keys") and name in data]
        if len(given) != 1:
            raise serializers.ValidationError({"non_field_errors": [
                f"Give exactly one of: {', '.join(fileago.ACTIONS)}."]})
        # Only the given field is validated (a form body would turn a missing boolean into false).
        try:
            return {"action": given[0], "value": self.fields[given[0]].run_validation(data[given[0]])}
        except serializers.ValidationError as exc:
            raise serializers.ValidationError({given[0]: exc.detail}) from None


class NodeView(FileAgoView):
    # FileAgo's curl examples post JSON; plain `curl -d` labels it a form.
    parser_classes = [JSONParser, LenientJSONParser]

    @extend_schema(tags=["fileago"], parameters=[NODE], summary="Details of a node (FileAgo)",
                   description="`type` is `Dir` or `File`; `owner_type` `User` or `Group`; times in epoch ms.",
                   responses={200: inline_serializer("FileAgoNodeInfo", fields={
                       "status": serializers.CharField(), "msg": serializers.CharField(),
                       "data": inline_serializer("FileAgoNode", fields={
                           "name": serializers.CharField(), "type": serializers.CharField(),
                           "uuid": serializers.CharField(), "owner_type": serializers.CharField(),
                           "owner_uuid": serializers.UUIDField(), "owner_fullname": serializers.CharField(),
                           "created": serializers.IntegerField(), "updated": serializers.IntegerField()})}),
                              **ERRORS})
    def get(self, request, node):
        place = fileago.place_get(user=request.user, ref=node)
        return _ok("Node info fetched successfully", fileago.place_details(place))

    @extend_schema(tags=["fileago"], parameters=[NODE], request=NodeActionSerializer, responses={204: None, **ERRORS},
                   summary="Change a node (FileAgo)",
                   description="Exactly one of `new_dir`, `new_name`, `starred`, `copy_to`, `move_to`, "
                               "`share_copy_with`. A name taken in the target folder is 409 (a shared copy is "
                               "renamed `name (1)` instead). Targets of `share_copy_with` are all checked first: "
                               "one unknown UUID (404) and nothing is shared.")
    def post(self, request, node):
        place = fileago.place_get(user=request.user, ref=node)
        payload = NodeActionSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        fileago.node_act(user=request.user, place=place, **payload.validated_data)
        return Response(status=204)

    @extend_schema(tags=["fileago"], parameters=[NODE], request=None, responses={204: None, **ERRORS},
                   summary="Move a node to the trash (FileAgo)")
    def delete(self, request, node):
        fileago.node_delete(place=fileago.place_get(user=request.user, ref=node))
        return Response(status=204)


class DirlistView(FileAgoView):
    @extend_schema(tags=["fileago"], parameters=[NODE], summary="List a folder (FileAgo)",
                   description="Folders first, then by name. A `Dir`'s `size` is how many entries it holds; a "
                               "`File`'s is bytes, with `revision` its current version. `public_shares` counts "
                               "live public links, `private_shares` the users and groups given a copy; "
                               "`comment_count` is always 0.",
                   responses={200: inline_serializer("FileAgoDirlist", fields={
                       "status": serializers.CharField(), "msg": serializers.CharField(),
                       "data": inline_serializer("FileAgoDirEntry", many=True, fields={
                           "is_starred": serializers.BooleanField(), "public_shares": serializers.IntegerField(),
                           "private_shares": serializers.IntegerField(), "name": serializers.CharField(),
                           "size": serializers.IntegerField(), "comment_count": serializers.IntegerField(),
                           "uuid": serializers.UUIDField(), "revision": serializers.IntegerField(required=False),
                           "updated": serializers.IntegerField(), "type": serializers.CharField()})}),
                              **ERRORS})
    def get(self, request, node):
        place = fileago.place_get(user=request.user, ref=node)
        rows = fileago.place_children(user=request.user, place=place)
        return _ok("Directory contents fetched successfully", [fileago.dirlist_row(n) for n in rows])


class PathView(FileAgoView):
    @extend_schema(tags=["fileago"], parameters=[NODE], summary="Path of a node (FileAgo)",
                   description="From the top-level folder (`{\"name\": \"Home\", \"uuid\": \"home\"}`) down to "
                               "the node itself.",
                   responses={200: inline_serializer("FileAgoPath", fields={
                       "status": serializers.CharField(), "msg": serializers.CharField(),
                       "data": inline_serializer("FileAgoPathEntry", many=True, fields={
                           "name": serializers.CharField(), "uuid": serializers.CharField()})}), **ERRORS})
    def get(self, request, node):
        place = fileago.place_get(user=request.user, ref=node)
        return _ok("Node path fetched successfully", fileago.place_path(user=request.user, place=place))


# --- uploads ----------------------------------------------------------------------------

class UploadTokenView(FileAgoView):
    @extend_schema(tags=["fileago"], parameters=[NODE], summary="Get an upload token (FileAgo)",
                   description="For a folder (new files) or a file (a new revision). The token works once, "
                               "within `FILEAGO_UPLOAD_TOKEN_SECONDS` (5) seconds, at `POST /upload/<token>`.",
                   responses={200: inline_serializer("FileAgoUploadToken", fields={
                       "token": serializers.CharField(), "status": serializers.CharField(),
                       "msg": serializers.CharField()}), **ERRORS})
    def get(self, request, node):
        target = fileago.node_of(fileago.place_get(user=request.user, ref=node))
        token = upload_tokens.upload_token_issue(user=request.user, node=target)
        return Response({"token": token, "status": "success",
                         "msg": f"This token is valid for next {upload_tokens.lifetime_seconds()} seconds only"})


class FileAgoUploadSerializer(serializers.Serializer):
    file = serializers.FileField(help_text="The file; several `file` parts upload several files into a folder.")


class UploadView(FileAgoView):
    authentication_classes = []  # the token is the credential
    permission_classes = [AllowAny]
    parser_classes = [MultiPartParser]

    @extend_schema(tags=["fileago"], request={"multipart/form-data": FileAgoUploadSerializer},
                   summary="Upload (FileAgo)",
                   description="Into the token's folder (a name that exists becomes a new version of that file), "
                               "or as a new revision of the token's file. Unknown, expired or used tokens are 401 "
                               "and nothing is stored. At most `UPLOAD_MAX_SIZE` bytes (413).",
                   responses={200: inline_serializer("FileAgoUploaded", fields={
                       "status": serializers.CharField(), "msg": serializers.CharField()}), **ERRORS})
    def post(self, request, token):
        # Token and size first: the body is not read (or stored) for a refused upload.
        grant = upload_tokens.upload_token_spend(token=token)
        body_size_check(request, limit=settings.UPLOAD_MAX_SIZE)
        place = fileago.place_get(user=grant.user, ref=str(grant.node.uuid))  # still within reach?
        fileago.files_upload(place=place, files=request.FILES.getlist("file"), uploader=grant.user)
        return Response({"status": "success", "msg": "File(s) uploaded successfully"})


# --- downloads -----------------------------------------------------------------------------

class FileAccessKeyAuthentication(BaseAuthentication):
    """`?fileaccesskey=` (from `POST /auth`) signs a download in, so a plain link works
    in a browser or player, while the session of that sign-in lives; without it the
    Bearer token is used."""

    def authenticate(self, request):
        key = request.query_params.get("fileaccesskey")
        if key is None:
            return None
        user = account_services.fileaccesskey_user(key=key)
        if user is None:
            raise TokenInvalid("Invalid fileaccesskey.")
        return user, None

    def authenticate_header(self, request):
        return 'Bearer realm="api"'


class FileAccessKeyScheme(OpenApiAuthenticationExtension):
    target_class = "files.api.fileago.FileAccessKeyAuthentication"
    name = "fileAccessKey"

    def get_security_definition(self, auto_schema):
        return {"type": "apiKey", "in": "query", "name": "fileaccesskey"}


class DownloadView(FileAgoView):
    authentication_classes = [FileAccessKeyAuthentication, SessionJWTAuthentication]

    @extend_schema(tags=["fileago"], summary="Download a file (FileAgo)",
                   parameters=[NODE, OpenApiParameter("fileaccesskey", str, description=(
                       "The `fileaccesskey` from `POST /auth`; or send the Bearer token instead.")),
                               OpenApiParameter("revision", int_schema(max_value=INT32_MAX), description="A version number; default current.")],
                   description="Streams the file. `Range` gives 206; `ETag` is the SHA-256.",
                   responses={(200, "application/octet-stream"): OpenApiTypes.BINARY,
                              (206, "application/octet-stream"): OpenApiTypes.BINARY, 304: None, 416: None,
                              **ERRORS})
    def get(self, request, node):
        target = fileago.file_of(fileago.place_get(user=request.user, ref=node))
        revision = request.query_params.get("revision")
        number = int_parse(revision, name="revision", max_value=INT32_MAX) if revision else target.version
        version = versions.version_get(node=target, number=number)
        return downloads.stream_version(request, version, name=target.name)


urls = [
    path("api/nodes/<str:node>", NodeView.as_view(), name="fa-node"),
    path("api/nodes/<str:node>/dirlist", DirlistView.as_view(), name="fa-dirlist"),
    path("api/nodes/<str:node>/path", PathView.as_view(), name="fa-path"),
    path("api/nodes/<str:node>/upload", UploadTokenView.as_view(), name="fa-upload-token"),
    path("api/nodes/<str:node>/download", DownloadView.as_view(), name="fa-download"),
    path("upload/<str:token>", UploadView.as_view(), name="fa-upload"),
]
