"""LayoodStorage bulk upload: a folder from a PC or a browser, with
progress. `start` opens a batch, `file` sends one file with its relative path,
`GET <uploadId>` tells how far it got, `complete` closes it with a summary. A thin
door onto `services/bulk_uploads.py` (and through it the upload engine)."""

from django.conf import settings
from django.core.files.uploadhandler import FileUploadHandler
from django.urls import path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers

from folders.api.serializers import CONFLICT_HELP, NodeSerializer
from storage_site.core.api import ErrorEnvelopeSerializer, PrimaryView, envelope, ok
from storage_site.core.fields import INT32_MAX, IntegerField

from ..services import bulk_uploads
from ..uploads.http import file_received, form_receive
from .views import ERRORS as FILE_ERRORS
from .views import too_large_message

ERRORS = {**FILE_ERRORS, 410: ErrorEnvelopeSerializer}
UPLOAD_ID = OpenApiParameter("upload_id", OpenApiTypes.UUID, OpenApiParameter.PATH, description="Bulk upload id")


# --- shapes ------------------------------------------------------------------------------

class BulkStartSerializer(serializers.Serializer):
    folderId = serializers.CharField(required=False, allow_blank=True, allow_null=True,
                                     help_text="Target folder UUID; omitted = home.")
    totalFiles = IntegerField(max_value=INT32_MAX, required=False, allow_null=True, min_value=0,
                                          help_text="How many files the client will send (for progress).")
    totalBytes = IntegerField(required=False, allow_null=True, min_value=0,
                                          help_text="Their total size; more than the free quota is a 413 at once.")
    onConflict = serializers.ChoiceField(["version", "rename", "error"], default="rename", help_text=CONFLICT_HELP)


class BulkFileFieldsSerializer(serializers.Serializer):
    uploadId = serializers.CharField()
    relativePath = serializers.CharField(max_length=4096, trim_whitespace=False,
                                         help_text="Where the file goes under the target folder, e.g. "
                                                   "`Photos/2024/img.jpg`; its last segment is the file name.")


class BulkFileSerializer(BulkFileFieldsSerializer):
    file = serializers.FileField(allow_empty_file=True, use_url=False)


class BulkIdSerializer(serializers.Serializer):
    uploadId = serializers.CharField()


PROGRESS = inline_serializer("BulkUploadProgress", fields={
    "filesDone": serializers.IntegerField(), "filesFailed": serializers.IntegerField(),
    "bytesDone": serializers.IntegerField(), "totalFiles": serializers.IntegerField(allow_null=True),
    "totalBytes": serializers.IntegerField(allow_null=True),
    "percent": serializers.FloatField(allow_null=True, help_text="By bytes when `totalBytes` was given, "
                                                                 "else by files; null when neither was.")})


BATCH_FIELDS = {"uploadId": serializers.UUIDField(), "folderId": serializers.UUIDField(allow_null=True),
                "status": serializers.ChoiceField(["uploading", "complete", "expired"]),
                "expiresAt": serializers.DateTimeField()}
STARTED = envelope("BulkUploadStarted", inline_serializer("BulkUploadStart", fields={
    **BATCH_FIELDS, "totalFiles": serializers.IntegerField(allow_null=True),
    "totalBytes": serializers.IntegerField(allow_null=True)}))
STATE = envelope("BulkUploadStateResponse", inline_serializer("BulkUploadState", fields={
    **BATCH_FIELDS, "progress": PROGRESS}))


class BulkFileResultSerializer(NodeSerializer):
    """Documents the answer to `file`: the file, its relative path, the batch's progress."""

    relativePath = serializers.CharField()
    progress = PROGRESS

    class Meta(NodeSerializer.Meta):
        fields = NodeSerializer.Meta.fields + ["relativePath", "progress"]


FILE_RESULT = envelope("BulkUploadFileResponse", BulkFileResultSerializer())
OUTCOME_FIELDS = {"relativePath": serializers.CharField()}
SUMMARY = envelope("BulkUploadSummaryResponse", inline_serializer("BulkUploadSummary", fields={
    "uploadId": serializers.UUIDField(), "folderId": serializers.UUIDField(allow_null=True),
    "status": serializers.CharField(),
    "created": inline_serializer("BulkUploadCreated", fields={
        "count": serializers.IntegerField(),
        "files": inline_serializer("BulkUploadCreatedFile", many=True, fields={
            **OUTCOME_FIELDS, "fileId": serializers.UUIDField(allow_null=True), "size": serializers.IntegerField()})}),
    "failed": inline_serializer("BulkUploadFailed", fields={
        "count": serializers.IntegerField(),
        "files": inline_serializer("BulkUploadFailedFile", many=True, fields={
            **OUTCOME_FIELDS, "code": serializers.CharField(), "message": serializers.CharField()})}),
    "bytes": serializers.IntegerField(help_text="Bytes stored by the created files."),
    "folders": serializers.IntegerField(help_text="Folders created for the files' paths."),
    "durationSeconds": serializers.FloatField(), "completedAt": serializers.DateTimeField()}))


# --- views -------------------------------------------------------------------------------------

def _batch(request, upload_id):
    return bulk_uploads.batch_get(user=request.user, upload_id=upload_id)


class BulkStartView(PrimaryView):
    @extend_schema(tags=["bulk-upload"], request=BulkStartSerializer, responses={201: STARTED, **ERRORS},
                   summary="Start a bulk upload",
                   description="Opens a folder upload into `folderId` (home when omitted). Files then arrive one "
                               "per request with their relative paths. No quota is held for the whole batch "
                               "(each file holds its own), but a `totalBytes` beyond the free quota is refused "
                               "at once (413 `STORAGE_QUOTA_EXCEEDED`). `onConflict` (default `rename`) applies "
                               "to every file. The batch stays open "
                               f"{settings.UPLOAD_SESSION_TTL_DAYS} days after its last file.")
    def post(self, request):
        payload = BulkStartSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        batch = bulk_uploads.bulk_start(user=request.user, folder_id=data.get("folderId"),
                                        total_files=data.get("totalFiles"), total_bytes=data.get("totalBytes"),
                                        policy=data["onConflict"])
        state = bulk_uploads.bulk_state(batch)
        progress = state.pop("progress")
        return ok({**state, "totalFiles": progress["totalFiles"], "totalBytes": progress["totalBytes"]},
                  message="Bulk upload started", status=201)


class _DiscardFileHandler(FileUploadHandler):
    """Reads the form's fields and drops every byte of its files."""

    def receive_data_chunk(self, raw_data, start):
        return None

    def file_complete(self, file_size):
        return None

    def abort_unfinished(self) -> bool:
        return False


class BulkFileView(PrimaryView):
    @extend_schema(
        tags=["bulk-upload"], request={"multipart/form-data": BulkFileSerializer},
        responses={201: FILE_RESULT, **ERRORS}, summary="Upload one file of a bulk upload",
        description=(
            "Multipart form: `uploadId`, `relativePath` (e.g. `Photos/2024/img.jpg`: its folders are created "
            "under the batch's folder as needed), `file`. The file streams straight to storage, at most "
            "`UPLOAD_MAX_SIZE` bytes (413 `FILE_TOO_LARGE`, refused unread and not part of the summary). "
            "A file that fails is recorded in the batch's summary and answered with its error: 400 "
            "`INVALID_PATH` (absolute, empty or `..` segments, a bad name, over 255 characters), 413 "
            "`STORAGE_QUOTA_EXCEEDED` (when the declared body cannot fit, its bytes are read and dropped so "
            "the refusal is recorded), 409 `NAME_CONFLICT` (`onConflict=error`, or a file "
            "where the path needs a folder). A body cut short: 400, nothing kept. After `complete`: 409 "
            "`UPLOAD_COMPLETE`; after `expiresAt`: 410 `UPLOAD_EXPIRED`."
        ),
    )
    def post(self, request):
        with file_received(request, BulkFileSerializer, too_large=too_large_message(), purpose="bulk-file",
                           refused=lambda error: _record_refusal(request, error)) as (data, reservation):
            upload = data["file"]
            batch = _batch(request, data["uploadId"])
            relative_path = data["relativePath"]
            session = bulk_uploads.bulk_file_add(batch=batch, relative_path=relative_path, stored=upload.stored,
                                                 content_type=upload.content_type, reservation=reservation)
        data = NodeSerializer(session.node, context={"request": request}).data
        data.update(relativePath=relative_path, progress=bulk_uploads.bulk_state(batch)["progress"])
        return ok(data, message="File uploaded", status=201)


def _record_refusal(request, error):
    """No room for this file: read the form without keeping a byte of the file, so that
    the refusal is recorded in its batch."""
    payload = BulkFileFieldsSerializer(data=form_receive(request, _DiscardFileHandler()))
    payload.is_valid(raise_exception=True)
    bulk_uploads.bulk_file_refused(batch=_batch(request, payload.validated_data["uploadId"]),
                                  relative_path=payload.validated_data["relativePath"], error=error)


class BulkProgressView(PrimaryView):
    @extend_schema(tags=["bulk-upload"], parameters=[UPLOAD_ID], responses={200: STATE, **ERRORS},
                   summary="Progress of a bulk upload",
                   description="Files done and failed so far, bytes stored, and `percent` of what `start` "
                               "declared.")
    def get(self, request, upload_id):
        return ok(bulk_uploads.bulk_state(_batch(request, upload_id)))


class BulkCompleteView(PrimaryView):
    @extend_schema(tags=["bulk-upload"], request=BulkIdSerializer, responses={200: SUMMARY, **ERRORS},
                   summary="Finish a bulk upload",
                   description="Closes the batch (later files get 409 `UPLOAD_COMPLETE`) and sums it up: the "
                               "files created, those that failed and why, bytes stored, folders created, how "
                               "long it took. Completing again answers the same summary.")
    def post(self, request):
        payload = BulkIdSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        summary = bulk_uploads.bulk_complete(batch=_batch(request, payload.validated_data["uploadId"]))
        return ok(summary, message="Bulk upload complete")


urls = [
    path("api/bulk-upload/start", BulkStartView.as_view(), name="bulk-start"),
    path("api/bulk-upload/file", BulkFileView.as_view(), name="bulk-file"),
    path("api/bulk-upload/complete", BulkCompleteView.as_view(), name="bulk-complete"),
    path("api/bulk-upload/<str:upload_id>", BulkProgressView.as_view(), name="bulk-progress"),
]
