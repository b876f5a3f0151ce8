"""StreamVault chunk upload: chunk_init, chunk_upload, chunk_complete,
plus chunk_status so a client can always ask what the server holds. A thin door
onto the upload engine (`files/uploads/`)."""

from django.conf import settings
from django.urls import path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response

from folders import services as tree
from folders.models import NodeKind
from storage_site.core.api import StreamVaultView
from storage_site.core.fields import INT32_MAX, IntegerField

from ..models import UploadSource, UploadStatus
from .. import uploads as engine
from .streamvault import ERRORS, MESSAGE
from ..uploads.http import PartUploadHandler, body_size_check, form_receive

CHUNK_ERRORS = {**ERRORS, 410: ERRORS[404]}


class ChunkInitSerializer(serializers.Serializer):
    file_name = serializers.CharField(max_length=1024)
    total_chunks = IntegerField(min_value=1, max_value=engine.MAX_PARTS)
    folder_token = serializers.CharField(required=False, allow_blank=True,
                                         help_text="The target folder's token; home when omitted.")
    file_size = IntegerField(required=False, min_value=0,
                                         help_text="Whole-file size, if known: quota is held for it at once.")
    checksum = serializers.CharField(required=False, allow_blank=True,
                                     help_text="Whole-file SHA-256 (hex, optionally `sha256:`-prefixed).")


class ChunkUploadSerializer(serializers.Serializer):
    upload_id = serializers.CharField()
    chunk_number = IntegerField(max_value=INT32_MAX)
    file = serializers.FileField()


class ChunkCompleteSerializer(serializers.Serializer):
    upload_id = serializers.CharField()
    checksum = serializers.CharField(required=False, allow_blank=True)


def _session(request, upload_id):
    return engine.session_get(user=request.user, upload_id=upload_id, source=UploadSource.STREAMVAULT)


def _status_body(session) -> dict:
    state = engine.session_state(session)
    body = {"upload_id": state["uploadId"], "status": state["status"], "file_name": state["fileName"],
            "received_chunks": state["receivedParts"], "missing_chunks": state["missingParts"],
            "next_chunk": state["nextPart"], "bytes_received": state["bytesReceived"],
            "total_chunks": state["totalParts"], "chunk_size": state["chunkSize"],
            "expires_at": state["expiresAt"]}
    if session.node_id:
        body["file_id"] = session.node_id
    if session.error_code:
        body["error"] = {"code": session.error_code, "message": session.error_message}
    return body


STATUS = inline_serializer("SVChunkStatus", fields={
    "upload_id": serializers.UUIDField(), "status": serializers.CharField(), "file_name": serializers.CharField(),
    "received_chunks": serializers.ListField(child=serializers.IntegerField()),
    "missing_chunks": serializers.ListField(child=serializers.IntegerField()),
    "next_chunk": serializers.IntegerField(allow_null=True), "bytes_received": serializers.IntegerField(),
    "total_chunks": serializers.IntegerField(), "chunk_size": serializers.IntegerField(allow_null=True),
    "expires_at": serializers.DateTimeField(), "file_id": serializers.IntegerField(required=False)})


class ChunkInitView(StreamVaultView):
    @extend_schema(tags=["streamvault"], request=ChunkInitSerializer, summary="Start a chunked upload (v3)",
                   description="Chunks are numbered from 1 and may arrive in any order; every chunk but the "
                               "last has the same size. The session lives "
                               f"{settings.UPLOAD_SESSION_TTL_DAYS} days, extended by every chunk.",
                   responses={200: inline_serializer("SVChunkInit", fields={
                       "upload_id": serializers.UUIDField(), "message": serializers.CharField()}),
                       **CHUNK_ERRORS})
    def post(self, request):
        payload = ChunkInitSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        folder = tree.home_get(user=request.user)
        if data.get("folder_token"):
            folder = tree.node_by_token(data["folder_token"], kind=NodeKind.FOLDER, owner=request.user)
        session = engine.session_start(
            user=request.user, folder=folder, name=data["file_name"], source=UploadSource.STREAMVAULT,
            total_parts=data["total_chunks"], expected_size=data.get("file_size"), checksum=data.get("checksum"),
            policy=tree.ConflictPolicy.RENAME)
        return Response({"upload_id": str(session.uuid), "message": "Upload session initialized successfully"})


class ChunkUploadView(StreamVaultView):
    @extend_schema(tags=["streamvault"], request={"multipart/form-data": ChunkUploadSerializer},
                   summary="Upload one chunk (v3)",
                   description="Form: `upload_id`, `chunk_number` (from 1), `file`. Sending a chunk again with "
                               "the same bytes is accepted; different bytes for a stored chunk are a 409 whose "
                               "`errors` say which chunks the server holds and which to send next.",
                   responses={200: MESSAGE, **CHUNK_ERRORS})
    def post(self, request):
        body_size_check(request, limit=settings.UPLOAD_CHUNK_MAX_SIZE,
                        message=f"A chunk is at most {settings.UPLOAD_CHUNK_MAX_SIZE} bytes.")
        handler = PartUploadHandler()
        try:
            payload = ChunkUploadSerializer(data=form_receive(request, handler))
            payload.is_valid(raise_exception=True)
            session = _session(request, payload.validated_data["upload_id"])
            received = payload.validated_data["file"].received
        except BaseException:
            handler.abort()
            raise
        number = payload.validated_data["chunk_number"]
        engine.part_accept(session=session, number=number, received=received)
        return Response({"message": f"Chunk {number} uploaded successfully"})


class ChunkCompleteView(StreamVaultView):
    @extend_schema(tags=["streamvault"], request=ChunkCompleteSerializer, summary="Assemble the file (v3)",
                   description="Small files are assembled at once (200 with `file_id`). Bigger ones "
                               f"(over {settings.UPLOAD_ASSEMBLE_INLINE_MAX} bytes) are assembled by a worker: "
                               "202 with `status: assembling`; call again (or `chunk_status`) until 200. "
                               "Missing chunks: 400 listing them. A checksum mismatch fails the upload.",
                   responses={200: inline_serializer("SVChunkComplete", fields={
                       "file_id": serializers.IntegerField(), "file_name": serializers.CharField(),
                       "message": serializers.CharField()}), 202: STATUS, **CHUNK_ERRORS})
    def post(self, request):
        payload = ChunkCompleteSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        session = engine.session_complete(session=_session(request, payload.validated_data["upload_id"]),
                                          checksum=payload.validated_data.get("checksum"))
        if session.status == UploadStatus.COMPLETE:
            return Response({"file_id": session.node_id, "file_name": session.node.name,
                             "message": "File successfully assembled"})
        if session.status == UploadStatus.FAILED:
            raise engine.session_error(session)
        body = _status_body(session)
        body["message"] = "The file is being assembled; call chunk_complete again to get it."
        return Response(body, status=202)


class ChunkStatusView(StreamVaultView):
    @extend_schema(tags=["streamvault"], summary="What the server holds of a chunked upload",
                   parameters=[OpenApiParameter("upload_id", OpenApiTypes.UUID, required=True)],
                   responses={200: STATUS, **CHUNK_ERRORS})
    def get(self, request):
        return Response(_status_body(_session(request, request.query_params.get("upload_id", ""))))


urls = [
    path("storage/api/v3/chunk_init/", ChunkInitView.as_view(), name="sv-chunk-init"),
    path("storage/api/v3/chunk_upload/", ChunkUploadView.as_view(), name="sv-chunk-upload"),
    path("storage/api/v3/chunk_complete/", ChunkCompleteView.as_view(), name="sv-chunk-complete"),
    path("storage/api/v3/chunk_status/", ChunkStatusView.as_view(), name="sv-chunk-status"),
]
