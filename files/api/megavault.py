"""MegaVault background upload: init, chunk, progress,
complete, plus the status of one upload and of a whole upload session, so a phone
can always ask what the server holds. A thin door onto the upload engine
(`files/uploads/`); the rules of this door are in
`services/megavault_uploads.py`. Chunks are indexed from 0 here (the engine counts
parts from 1) and answers use the primary `{"success": true, "data": ...}` envelope."""

import re
from contextlib import contextmanager
from urllib.parse import urlencode

from django.conf import settings
from django.urls import path, reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers

from folders.api.serializers import NodeSerializer
from storage_site.core.api import PRIMARY_ERRORS, ErrorEnvelopeSerializer, PrimaryView, envelope, ok
from storage_site.core.exceptions import FileTooLarge
from storage_site.core.fields import INT32_MAX, IntegerField, int_schema

from ..models import UploadStatus
from ..services import megavault_uploads as mv
from .. import uploads as engine
from ..uploads.http import PartUploadHandler, body_size_check, body_stream, form_receive, raw_body_length

ERRORS = {**PRIMARY_ERRORS, 409: ErrorEnvelopeSerializer, 410: ErrorEnvelopeSerializer,
          413: ErrorEnvelopeSerializer, 503: ErrorEnvelopeSerializer}
# Form fields and boundaries around a multipart chunk.
UPLOAD_ID = OpenApiParameter("upload_id", OpenApiTypes.UUID, OpenApiParameter.PATH,
                             description="The `uploadId` of one file, from init.")


# --- input ----------------------------------------------------------------------------

class MVInitFileSerializer(serializers.Serializer):
    localId = serializers.CharField(max_length=255, help_text="The phone's id for the file; unique in the request.")
    name = serializers.CharField(max_length=1024, trim_whitespace=False)
    size = IntegerField(min_value=0, help_text="Bytes; quota is held for it at once.")
    mimeType = serializers.CharField(required=False, allow_blank=True, max_length=255)
    folder = serializers.CharField(required=False, allow_blank=True, max_length=4096,
                                   help_text="A path under home, e.g. `/videos`; missing folders are created.")
    checksum = serializers.CharField(required=False, allow_blank=True,
                                     help_text="`sha256:<hex>`: the assembled file is verified against it.")
    priority = serializers.ChoiceField(mv.PRIORITIES, default="normal")


class MVUploadOptionsSerializer(serializers.Serializer):
    wifiOnly = serializers.BooleanField(default=False, help_text="Kept for the client; the server does not care.")
    chunkSize = IntegerField(default=mv.CHUNK_SIZE_DEFAULT, min_value=mv.CHUNK_SIZE_MIN,
                                         max_value=mv.CHUNK_SIZE_MAX)
    maxRetries = IntegerField(default=3, min_value=0, max_value=100)

    def validate_chunkSize(self, value):
        if value > mv.chunk_size_max():
            raise serializers.ValidationError(f"Ensure this value is less than or equal to {mv.chunk_size_max()}.")
        return value


class MVInitSerializer(serializers.Serializer):
    files = MVInitFileSerializer(many=True, min_length=1, max_length=mv.MAX_FILES)
    uploadOptions = MVUploadOptionsSerializer(required=False)

    def validate(self, attrs):
        if "uploadOptions" not in attrs:  # the defaults, as if `{}` had been sent
            attrs["uploadOptions"] = MVUploadOptionsSerializer().run_validation({})
        return attrs


class MVChunkFormSerializer(serializers.Serializer):
    uploadId = serializers.CharField()
    index = IntegerField(max_value=INT32_MAX, help_text="The chunk's index, from 0.")
    file = serializers.FileField()


class MVChunkQuerySerializer(serializers.Serializer):
    uploadId = serializers.CharField()
    index = IntegerField(max_value=INT32_MAX)


class MVProgressSerializer(serializers.Serializer):
    uploadId = serializers.CharField()
    completedChunks = serializers.ListField(child=IntegerField(max_value=INT32_MAX), required=False, max_length=10_000,
                                            help_text="What the client believes it sent; the answer says what "
                                                      "the server holds.")
    bytesUploaded = IntegerField(required=False, min_value=0)
    status = serializers.CharField(required=False, allow_blank=True, max_length=32)


class MVCompleteMetadataSerializer(serializers.Serializer):
    location = serializers.CharField(required=False, allow_blank=True, max_length=200,
                                     help_text="`latitude,longitude`, e.g. `37.7749,-122.4194`.")
    capturedAt = serializers.DateTimeField(required=False)


class MVCompleteSerializer(serializers.Serializer):
    uploadId = serializers.CharField()
    checksum = serializers.CharField(required=False, allow_blank=True)
    metadata = MVCompleteMetadataSerializer(required=False)


# --- output (documentation of the shapes built below) ---------------------------------

class MVChunkUrlSerializer(serializers.Serializer):
    index = serializers.IntegerField()
    start = serializers.IntegerField()
    end = serializers.IntegerField(help_text="Inclusive.")
    uploadUrl = serializers.URLField()


class MVInitFileAnswerSerializer(serializers.Serializer):
    localId = serializers.CharField()
    uploadId = serializers.UUIDField()
    uploadUrl = serializers.URLField()
    chunks = MVChunkUrlSerializer(many=True)
    totalChunks = serializers.IntegerField()
    direct = serializers.BooleanField(help_text="True: chunk URLs are presigned S3 URLs.")
    method = serializers.CharField(help_text="The HTTP method for chunk URLs: `PUT`.")


class MVInitAnswerSerializer(serializers.Serializer):
    uploadSession = serializers.UUIDField()
    files = MVInitFileAnswerSerializer(many=True)
    expiresAt = serializers.DateTimeField()


class MVChunkAnswerSerializer(serializers.Serializer):
    uploadId = serializers.UUIDField()
    index = serializers.IntegerField()
    received = serializers.BooleanField()
    bytesReceived = serializers.IntegerField(help_text="Bytes the server holds of this upload.")
    completedChunks = serializers.ListField(child=serializers.IntegerField())


class MVUploadErrorSerializer(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()


class MVProgressAnswerSerializer(serializers.Serializer):
    uploadId = serializers.UUIDField()
    localId = serializers.CharField()
    name = serializers.CharField()
    status = serializers.CharField(help_text="uploading, assembling, complete, failed or expired.")
    completedChunks = serializers.ListField(child=serializers.IntegerField(), help_text="Held by the server.")
    missingChunks = serializers.ListField(child=serializers.IntegerField())
    unconfirmedChunks = serializers.ListField(child=serializers.IntegerField(), required=False,
                                              help_text="Reported by the client but not held: send them again.")
    bytesUploaded = serializers.IntegerField(help_text="Bytes the server holds.")
    totalBytes = serializers.IntegerField()
    totalChunks = serializers.IntegerField()
    chunkSize = serializers.IntegerField()
    direct = serializers.BooleanField()
    expiresAt = serializers.DateTimeField()
    chunks = MVChunkUrlSerializer(many=True, required=False, help_text="Where to send the missing chunks.")
    fileId = serializers.UUIDField(required=False)
    error = MVUploadErrorSerializer(required=False)


class MVCompleteAnswerSerializer(serializers.Serializer):
    uploadId = serializers.UUIDField()
    status = serializers.CharField()
    file = NodeSerializer()


class MVBatchFileSerializer(serializers.Serializer):
    localId = serializers.CharField()
    uploadId = serializers.UUIDField()
    name = serializers.CharField()
    size = serializers.IntegerField()
    priority = serializers.CharField()
    status = serializers.CharField()
    bytesUploaded = serializers.IntegerField()
    totalChunks = serializers.IntegerField()
    fileId = serializers.UUIDField(required=False)
    error = MVUploadErrorSerializer(required=False)


class MVBatchAnswerSerializer(serializers.Serializer):
    uploadSession = serializers.UUIDField()
    status = serializers.CharField(help_text="complete, uploading (some file still moving) or failed.")
    totalBytes = serializers.IntegerField()
    bytesUploaded = serializers.IntegerField()
    createdAt = serializers.DateTimeField()
    files = MVBatchFileSerializer(many=True)


PROGRESS = envelope("MVUploadProgress", MVProgressAnswerSerializer())


# --- shapes -------------------------------------------------------------------------------

# The engine's messages name parts from 1 ("Chunk 3 is already stored ...").
ENGINE_CHUNK = re.compile(r"\bChunk (\d+)\b")


@contextmanager
def zero_based_errors():
    """Engine errors, told with MegaVault's chunk indexes (from 0)."""
    try:
        yield
    except engine.UploadError as exc:
        details = exc.details or {}
        if "receivedParts" in details:
            missing = [number - 1 for number in details["missingParts"]]
            exc.details = {"completedChunks": [number - 1 for number in details["receivedParts"]],
                           "missingChunks": missing,
                           "nextChunk": missing[0] if missing else None,
                           "bytesUploaded": details["bytesReceived"]}
            if exc.code == "MISSING_CHUNKS":
                exc.message = f"Chunks missing: {engine.ranges(missing) or 'all'}."
            else:
                exc.message = ENGINE_CHUNK.sub(lambda match: f"Chunk {int(match[1]) - 1}", exc.message)
        raise


def _chunk_endpoint(request) -> str:
    return request.build_absolute_uri(reverse("files:mv-upload-chunk"))


def _chunks(request, session, indexes) -> list[dict]:
    """Where to send each chunk: the presigned S3 URL of a direct session, else ours."""
    presigned = engine.part_urls(session, [index + 1 for index in indexes])
    endpoint = _chunk_endpoint(request)
    chunks = []
    for index in indexes:
        start = index * session.chunk_size
        url = presigned.get(index + 1) or f"{endpoint}?{urlencode({'uploadId': session.uuid, 'index': index})}"
        chunks.append({"index": index, "start": start, "end": start + mv.chunk_length(session, index) - 1,
                       "uploadUrl": url})
    return chunks


def init_file_answer(request, session) -> dict:
    return {"localId": session.local_id, "uploadId": str(session.uuid), "uploadUrl": _chunk_endpoint(request),
            "chunks": _chunks(request, session, range(session.total_parts)), "totalChunks": session.total_parts,
            "direct": session.direct, "method": "PUT"}


def _progress(request, session, *, claimed: list[int] | None = None) -> dict:
    state = engine.session_state(session)
    held = [number - 1 for number in state["receivedParts"]]
    missing = [number - 1 for number in state["missingParts"]]
    status = mv.upload_status(session)
    body = {"uploadId": state["uploadId"], "localId": session.local_id, "name": state["fileName"],
            "status": status, "completedChunks": held, "missingChunks": missing,
            "bytesUploaded": state["bytesReceived"], "totalBytes": state["expectedSize"],
            "totalChunks": state["totalParts"], "chunkSize": state["chunkSize"], "direct": session.direct,
            "expiresAt": state["expiresAt"]}
    if claimed is not None:
        body["unconfirmedChunks"] = sorted(set(claimed) - set(held))
    if status == UploadStatus.UPLOADING:
        body["chunks"] = _chunks(request, session, missing)
    if "fileId" in state:
        body["fileId"] = state["fileId"]
    if "error" in state:
        body["error"] = state["error"]
    return body


def _chunk_answer(session, index: int) -> dict:
    state = engine.session_state(session)
    return {"uploadId": str(session.uuid), "index": index, "received": True,
            "bytesReceived": state["bytesReceived"],
            "completedChunks": [number - 1 for number in state["receivedParts"]]}


# --- views ------------------------------------------------------------------------------------

class InitView(PrimaryView):
    @extend_schema(
        tags=["megavault"], request=MVInitSerializer,
        responses={200: envelope("MVUploadInit", MVInitAnswerSerializer()), **ERRORS},
        summary="Start a background upload",
        description=(
            f"One upload session for 1–{mv.MAX_FILES} files. Quota for every file is held at once, all or "
            "nothing (413 `STORAGE_QUOTA_EXCEEDED` and nothing started). `chunkSize` is 256 KiB–512 MiB "
            "(default 5 MiB); each file is cut into `totalChunks` chunks, indexed from 0, every chunk but the "
            "last of exactly `chunkSize` bytes. `PUT` each chunk's bytes to its `uploadUrl`, in any order: our "
            "chunk endpoint, or, when a file says `direct: true` (S3 storage, chunks of at least 5 MiB), a "
            "presigned S3 URL. A name taken in the folder gets a numbered name (`video (1).mp4`). "
            f"Sessions live {settings.UPLOAD_SESSION_TTL_DAYS} days, extended by every chunk."),
    )
    def post(self, request):
        payload = MVInitSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        options = payload.validated_data["uploadOptions"]
        files = [mv.FileRequest(local_id=f["localId"], name=f["name"], size=f["size"],
                                mime_type=f.get("mimeType", ""), folder=f.get("folder", ""),
                                checksum=f.get("checksum", ""), priority=f["priority"])
                 for f in payload.validated_data["files"]]
        batch, sessions = mv.batch_start(user=request.user, files=files, chunk_size=options["chunkSize"],
                                         options={"wifiOnly": options["wifiOnly"],
                                                  "maxRetries": options["maxRetries"]})
        return ok({"uploadSession": str(batch.uuid), "files": [init_file_answer(request, s) for s in sessions],
                   "expiresAt": min(s.expires_at for s in sessions)})


class ChunkView(PrimaryView):
    @extend_schema(
        tags=["megavault"], request={"application/octet-stream": OpenApiTypes.BINARY},
        parameters=[OpenApiParameter("uploadId", OpenApiTypes.UUID, required=True),
                    OpenApiParameter("index", int_schema(max_value=INT32_MAX), required=True, description="From 0.")],
        responses={200: envelope("MVUploadChunk", MVChunkAnswerSerializer()), 411: ErrorEnvelopeSerializer,
                   **ERRORS},
        summary="Upload one chunk (raw body)",
        description=(
            "The chunk's bytes as the body, with `Content-Length` (411 for a chunked body). Refused before the "
            "body is read when the index is out of range or the length is not the chunk's (400), or when the upload "
            "is direct (409 `DIRECT_UPLOAD`: PUT to the presigned URL). The same bytes again are accepted; "
            "different bytes for a stored chunk are a 409 `CHUNK_CONFLICT` whose `details` list "
            "`completedChunks`, `missingChunks` and `nextChunk`."),
    )
    def put(self, request):
        params = MVChunkQuerySerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        length = raw_body_length(request)
        if length > settings.UPLOAD_CHUNK_MAX_SIZE:
            raise FileTooLarge(f"A chunk is at most {settings.UPLOAD_CHUNK_MAX_SIZE} bytes.")
        session = mv.upload_get(user=request.user, upload_id=params.validated_data["uploadId"])
        index = params.validated_data["index"]
        with zero_based_errors():
            # The raw body is streamed by the engine, never loaded through `request.data`.
            mv.chunk_receive(session=session, index=index, stream=body_stream(request), length=length)
        return ok(_chunk_answer(session, index))

    @extend_schema(
        tags=["megavault"], request={"multipart/form-data": MVChunkFormSerializer},
        responses={200: envelope("MVUploadChunkForm", MVChunkAnswerSerializer()), **ERRORS},
        summary="Upload one chunk (multipart form)",
        description="Form: `uploadId`, `index` (from 0; either may be in the query instead), `file`. "
                    "Otherwise as the raw `PUT`.",
    )
    def post(self, request):
        body_size_check(request, limit=settings.UPLOAD_CHUNK_MAX_SIZE,
                        message=f"A chunk is at most {settings.UPLOAD_CHUNK_MAX_SIZE} bytes.")
        handler = PartUploadHandler()
        try:
            form = form_receive(request, handler)
            payload = MVChunkFormSerializer(data={
                "uploadId": form.get("uploadId") or request.query_params.get("uploadId"),
                "index": form.get("index") or request.query_params.get("index"), "file": form.get("file")})
            payload.is_valid(raise_exception=True)
            session = mv.upload_get(user=request.user, upload_id=payload.validated_data["uploadId"])
            received = payload.validated_data["file"].received
        except BaseException:
            handler.abort()
            raise
        index = payload.validated_data["index"]
        with zero_based_errors():
            mv.chunk_accept(session=session, index=index, received=received)
        return ok(_chunk_answer(session, index))


class ProgressView(PrimaryView):
    @extend_schema(
        tags=["megavault"], request=MVProgressSerializer, responses={200: PROGRESS, **ERRORS},
        summary="Report progress, learn what the server holds",
        description=(
            "The client's figures are not trusted: the answer is what the server holds (for a direct upload, "
            "what S3 holds). `completedChunks` and `bytesUploaded` are the server's; chunks the client reported "
            "but the server lacks are in `unconfirmedChunks` (and `missingChunks`). While uploading, `chunks` "
            "says where to send every missing chunk (fresh presigned URLs for a direct upload)."),
    )
    def post(self, request):
        payload = MVProgressSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        session = mv.upload_sync(mv.upload_get(user=request.user, upload_id=payload.validated_data["uploadId"]))
        return ok(_progress(request, session, claimed=payload.validated_data.get("completedChunks", [])))


class CompleteView(PrimaryView):
    @extend_schema(
        tags=["megavault"], request=MVCompleteSerializer,
        responses={200: envelope("MVUploadComplete", MVCompleteAnswerSerializer()), 202: PROGRESS, **ERRORS},
        summary="Finish one file",
        description=(
            "Every chunk must be held (400 `MISSING_CHUNKS`, `details.missingChunks`). Small files are "
            f"assembled at once: 200 with `file`. Bigger ones (over {settings.UPLOAD_ASSEMBLE_INLINE_MAX} bytes) "
            "are assembled by a worker: 202 with `status: assembling`; call again until 200. A retried "
            "complete answers with the same file. The file's SHA-256 is checked against `checksum` (here or at "
            "init): a mismatch is 400 `CHECKSUM_MISMATCH` and no file. `metadata` is kept on the file "
            "(`GET /api/files/<id>/info` → `data.metadata`)."),
    )
    def post(self, request):
        payload = MVCompleteSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        metadata = data.get("metadata") or {}
        if "capturedAt" in metadata:
            metadata["capturedAt"] = serializers.DateTimeField().to_representation(metadata["capturedAt"])
        session = mv.upload_get(user=request.user, upload_id=data["uploadId"])
        with zero_based_errors():
            session = mv.upload_complete(session=session, checksum=data.get("checksum"), metadata=metadata)
        if session.status != UploadStatus.COMPLETE:
            return ok(_progress(request, session), status=202)
        return ok({"uploadId": str(session.uuid), "status": session.status,
                   "file": NodeSerializer(session.node, context={"request": request}).data})


class UploadStatusView(PrimaryView):
    @extend_schema(tags=["megavault"], parameters=[UPLOAD_ID], responses={200: PROGRESS, **ERRORS},
                   summary="What the server holds of one upload", description="The shape of the progress answer.")
    def get(self, request, upload_id):
        session = mv.upload_sync(mv.upload_get(user=request.user, upload_id=upload_id))
        return ok(_progress(request, session))


class BatchStatusView(PrimaryView):
    @extend_schema(
        tags=["megavault"],
        parameters=[OpenApiParameter("upload_session", OpenApiTypes.UUID, OpenApiParameter.PATH,
                                     description="The `uploadSession` from init.")],
        responses={200: envelope("MVUploadSession", MVBatchAnswerSerializer()), **ERRORS},
        summary="What the server holds of an upload session",
        description="Every file of the session: its status, the bytes held and, once complete, `fileId`.")
    def get(self, request, upload_session):
        batch = mv.batch_get(user=request.user, batch_id=upload_session)
        sessions = mv.batch_sessions(batch)
        priorities = batch.options.get("priority", {})
        files = []
        for session in sessions:
            file = {"localId": session.local_id, "uploadId": str(session.uuid), "name": session.name,
                    "size": session.expected_size, "priority": priorities.get(session.local_id, "normal"),
                    "status": mv.upload_status(session), "bytesUploaded": session.bytes_held or 0,
                    "totalChunks": session.total_parts}
            if session.node_id:
                file["fileId"] = str(session.node.uuid)
            if session.error_code:
                file["error"] = {"code": session.error_code, "message": session.error_message}
            files.append(file)
        return ok({"uploadSession": str(batch.uuid), "status": mv.batch_status(sessions),
                   "totalBytes": batch.expected_bytes, "bytesUploaded": sum(f["bytesUploaded"] for f in files),
                   "createdAt": batch.created_at, "files": files})


urls = [
    path("api/mobile/upload/init", InitView.as_view(), name="mv-upload-init"),
    path("api/mobile/upload/chunk", ChunkView.as_view(), name="mv-upload-chunk"),
    path("api/mobile/upload/progress", ProgressView.as_view(), name="mv-upload-progress"),
    path("api/mobile/upload/complete", CompleteView.as_view(), name="mv-upload-complete"),
    path("api/mobile/upload/session/<str:upload_session>", BatchStatusView.as_view(), name="mv-upload-session"),
    path("api/mobile/upload/<str:upload_id>", UploadStatusView.as_view(), name="mv-upload-status"),
]
