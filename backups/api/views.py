"""LayoodStorage auto-backup API: devices, backup sessions, uploads with
one recorded outcome per file, de-duplication, analytics, contacts; and the admin
backup overview. Primary envelope throughout."""

from django.conf import settings
from django.db.models import Prefetch
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.throttling import ScopedRateThrottle

from accounts.permissions import IsAdminRole
from files.api import megavault
from files.api.downloads import stream_version
from files.uploads.http import StorageUploadHandler, body_size_check, form_receive
from folders.models import Node
from storage_site.core.api import (
    PRIMARY_ERRORS,
    ErrorEnvelopeSerializer,
    MessageSerializer,
    PrimaryView,
    envelope,
    ok,
)
from storage_site.core.exceptions import ApplicationError, TooManyAttempts
from storage_site.core.fields import INT32_MAX, int_schema
from storage_site.core.pagination import PrimaryPagination

from .. import selectors
from ..models import BackupFile, ContactFormat, Outcome
from ..services import backup as backups
from ..services import contacts
from ..services import devices as device_services
from ..services import notifications
from .mobile import DEVICE, device_settings_put, render_device
from .serializers import (
    BackupCheckSerializer,
    BackupCompleteSerializer,
    BackupFileSerializer,
    BackupSessionSerializer,
    BackupStartSerializer,
    BackupUploadFormSerializer,
    BackupUploadJsonSerializer,
    ContactsFormSerializer,
    ContactsJsonSerializer,
    ContactSnapshotSerializer,
    DeviceInfoSerializer,
    DeviceSerializer,
    DeviceSettingsSerializer,
)

ERRORS = {**PRIMARY_ERRORS, 403: ErrorEnvelopeSerializer, 409: ErrorEnvelopeSerializer,
          413: ErrorEnvelopeSerializer}
ID = OpenApiParameter("id", OpenApiTypes.STR, OpenApiParameter.PATH,
                      description="The device's `id` (UUID), or the app's own deviceId.")
SESSION_ID = OpenApiParameter("id", OpenApiTypes.UUID, OpenApiParameter.PATH, description="Backup session id.")


class BackupThrottledView(PrimaryView):
    """Per-user rate limit `THROTTLE_BACKUP`; over it, 429 TOO_MANY_ATTEMPTS (LayoodStorage's backup error)."""

    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "backup"

    def throttled(self, request, wait):
        raise TooManyAttempts("Too many backup requests. Try again later.", retry_after=int(wait or 1) + 1)


# --- devices ---------------------------------------------------------------------------

class DeviceRegisterView(PrimaryView):
    @extend_schema(
        tags=["backup"], request=DeviceInfoSerializer,
        responses={201: DEVICE, 200: DEVICE, **ERRORS}, summary="Register a device for auto-backup",
        description=(
            "Registers the device this app runs on (201), or updates it when its `deviceId` is already "
            "registered (200). A new device over the plan's device limit is 403 `DEVICE_LIMIT_REACHED` "
            "(details: `limit`, `devices`) and nothing is created; removed devices do not count."),
    )
    def post(self, request):
        payload = DeviceInfoSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        device, created = device_services.device_register(user=request.user,
                                                          info=DeviceInfoSerializer.device_info(data))
        notifications.device_push_token_record(device=device, token=data["pushToken"], platform=data["platform"])
        return ok(render_device(request, device), message="Device registered" if created else "Device updated",
                  status=201 if created else 200)


class DeviceListView(PrimaryView):
    @extend_schema(tags=["backup"], responses={200: envelope("DeviceList", DeviceSerializer(many=True)), **ERRORS},
                   summary="List my devices", description="Live devices with their backup settings.")
    def get(self, request):
        return ok(DeviceSerializer(selectors.devices_for(request.user), many=True,
                                   context={"current_device_id": ""}).data)


class DeviceSettingsView(PrimaryView):
    @extend_schema(tags=["backup"], parameters=[ID], request=DeviceSettingsSerializer,
                   responses={200: DEVICE, **ERRORS}, summary="Update backup preferences",
                   description="Only the fields sent change: `backupEnabled`, `autoUpload`, `wifiOnly`, "
                               "`backgroundSync`, `uploadQuality`, `syncFolders`, `maxCacheSize`, `name`. "
                               "Another user's device is 404 `DEVICE_NOT_FOUND`.")
    def put(self, request, id):
        return device_settings_put(request, id)


class DeviceRemoveView(PrimaryView):
    @extend_schema(tags=["backup"], parameters=[ID], request=None, responses={200: MessageSerializer, **ERRORS},
                   summary="Remove a device", description="As `DELETE /api/mobile/devices/{id}`.")
    def delete(self, request, id):
        device_services.device_remove(device=device_services.device_get(user=request.user, device_id=id))
        return ok(message="Device removed")


# --- backup sessions -------------------------------------------------------------------

SESSION = envelope("BackupSessionResponse", BackupSessionSerializer())


class BackupStartView(BackupThrottledView):
    @extend_schema(
        tags=["backup"], request=BackupStartSerializer, responses={201: SESSION, **ERRORS, 429: ErrorEnvelopeSerializer},
        summary="Start a backup session",
        description=(
            "Opens a session for the device (404 `DEVICE_NOT_FOUND`; 403 `BACKUP_DISABLED` when its "
            "`backupEnabled` is off). `expectedFiles`/`expectedBytes` drive the progress in analytics. A running "
            "session of the same device is interrupted. A session idle for `BACKUP_SESSION_IDLE_HOURS` "
            "expires (404 `SESSION_EXPIRED`)."),
    )
    def post(self, request):
        payload = BackupStartSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        device = device_services.device_get(user=request.user, device_id=data["deviceId"])
        session = backups.backup_start(user=request.user, device=device, expected_files=data.get("expectedFiles"),
                                       expected_bytes=data.get("expectedBytes"))
        return ok(BackupSessionSerializer(session).data, message="Backup session started", status=201)


def _info(data: dict, name: str | None = None) -> backups.FileInfo:
    metadata = {}
    if data.get("capturedAt"):
        metadata["capturedAt"] = serializers.DateTimeField().to_representation(data["capturedAt"])
    if data.get("location"):
        metadata["location"] = data["location"]
    return backups.FileInfo(name=data.get("name") or name or "", folder=data.get("folder", ""),
                            asset_id=data.get("assetId", ""), size=data.get("size"),
                            sha256=(data.get("checksum") or "").lower().removeprefix("sha256:"),
                            mime_type=data.get("mimeType", ""), metadata=metadata)


UPLOADED = envelope("BackupUploaded", inline_serializer("BackupUploadResult", fields={
    "file": BackupFileSerializer(),
    "upload": megavault.MVInitFileAnswerSerializer(required=False, help_text=(
        "Only for a chunked upload (202): PUT each chunk to its `uploadUrl`, then POST "
        "`/api/mobile/upload/complete` with `uploadId`.")),
}))


class BackupUploadView(BackupThrottledView):
    @extend_schema(
        tags=["backup"],
        request={"multipart/form-data": BackupUploadFormSerializer, "application/json": BackupUploadJsonSerializer},
        responses={201: UPLOADED, 200: UPLOADED, 202: UPLOADED, **ERRORS, 429: ErrorEnvelopeSerializer},
        summary="Upload a file within a backup session",
        description=(
            "**Multipart** (`file`, `sessionId`, optional `name`, `folder`, `assetId`, `checksum`, `mimeType`, "
            "`capturedAt`, `location`): the file, up to `UPLOAD_MAX_SIZE`, goes into `Backups/<device name>/"
            "<folder>/` (a clash of names keeps both). 201 `uploaded`; 200 `already_present` when the user "
            "already holds a file with the same SHA-256 — no new file, nothing charged to the quota. "
            "**JSON** (`sessionId`, `name`, `size`, `checksum` required) for a big file: 200 `already_present`, "
            "or 202 `pending` with `upload`, which says where to PUT each chunk (MegaVault chunk endpoint, or "
            "presigned S3 URLs when `direct`); finish with `POST /api/mobile/upload/complete` and the file's "
            "outcome is recorded when it is assembled. Every file ends in the session's logs with an outcome; "
            "a refused file is recorded `failed` with the same code the answer carries (e.g. 413 "
            "`STORAGE_QUOTA_EXCEEDED`, 400 `CHECKSUM_MISMATCH`). Session errors: 404 `SESSION_NOT_FOUND` or "
            "`SESSION_EXPIRED`, 409 `SESSION_COMPLETED`, 403 `BACKUP_DISABLED`."),
    )
    def post(self, request):
        if request.content_type.startswith("multipart/"):
            return self._multipart(request)
        payload = BackupUploadJsonSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        session = backups.session_open(user=request.user,
                                       session_id=data.get("sessionId") or request.query_params.get("sessionId"))
        return self._chunked(request, session, _info(data))

    def _multipart(self, request):
        body_size_check(request, limit=settings.UPLOAD_MAX_SIZE, message=(
            f"Files over {settings.UPLOAD_MAX_SIZE} bytes are sent in chunks: POST JSON with `size` and "
            "`checksum` instead."))
        handler = StorageUploadHandler()
        try:
            payload = BackupUploadFormSerializer(data=form_receive(request, handler))
            payload.is_valid(raise_exception=True)
            data = payload.validated_data
            session = backups.session_open(
                user=request.user, session_id=data.get("sessionId") or request.query_params.get("sessionId"))
        except BaseException:
            handler.abort()
            raise
        upload = data.get("file")
        if upload is None:
            if data.get("size") is None or not data.get("checksum") or not data.get("name"):
                raise ApplicationError("Send `file`, or `name`, `size` and `checksum` for a chunked upload.",
                                       code="VALIDATION_ERROR")
            return self._chunked(request, session, _info(data))
        row = backups.backup_file_store(session=session, info=_info(data, upload.name), stored=upload.stored)
        created = row.outcome == Outcome.UPLOADED
        return ok({"file": BackupFileSerializer(row).data},
                  message="File backed up" if created else "Already backed up", status=201 if created else 200)

    def _chunked(self, request, session, info):
        started = backups.backup_file_start_chunked(session=session, info=info)
        if started.upload is None:
            return ok({"file": BackupFileSerializer(started.row).data}, message="Already backed up")
        return ok({"file": BackupFileSerializer(started.row).data,
                   "upload": megavault.init_file_answer(request, started.upload)},
                  message="Send the chunks", status=202)


SUMMARY = inline_serializer("BackupSummary", fields={
    "files": inline_serializer("BackupSummaryFiles", fields={
        "uploaded": serializers.IntegerField(), "alreadyPresent": serializers.IntegerField(),
        "failed": serializers.IntegerField(), "pending": serializers.IntegerField()}),
    "bytesUploaded": serializers.IntegerField(), "bytesAlreadyPresent": serializers.IntegerField()})


class BackupCompleteView(BackupThrottledView):
    @extend_schema(
        tags=["backup"], request=BackupCompleteSerializer,
        responses={200: envelope("BackupCompleted", inline_serializer("BackupCompletedData", fields={
            "session": BackupSessionSerializer(), "summary": SUMMARY})), **ERRORS, 429: ErrorEnvelopeSerializer},
        summary="Complete a backup session",
        description=(
            "Closes the session and answers with its summary. Chunked files still being assembled stay "
            "`pending` until assembly ends; files whose chunks never all arrived end `failed` "
            "(`NOT_FINISHED`). Completing again answers the same. Sends one `uploads` push with the summary."),
    )
    def post(self, request):
        payload = BackupCompleteSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        session = backups.session_get(user=request.user, session_id=payload.validated_data["sessionId"])
        session = backups.backup_complete(session=session)
        return ok({"session": BackupSessionSerializer(session).data,
                   "summary": backups.session_summary(session=session)}, message="Backup session completed")


class BackupLogsView(PrimaryView):
    @extend_schema(
        tags=["backup"], parameters=[
            SESSION_ID,
            OpenApiParameter("outcome", OpenApiTypes.STR, enum=Outcome.values,
                             description="Only files with this outcome."),
            OpenApiParameter("page", int_schema(min_value=1, max_value=INT32_MAX)),
            OpenApiParameter("pageSize", int_schema(min_value=1, max_value=PrimaryPagination.max_page_size))],
        responses={200: envelope("BackupLogs", inline_serializer("BackupLogsData", fields={
            "session": BackupSessionSerializer(), "summary": SUMMARY, "items": BackupFileSerializer(many=True),
            "pagination": serializers.DictField()})), **ERRORS},
        summary="Logs of a backup session",
        description="Every file sent in the session, in order, with its outcome (`uploaded`, `already_present`, "
                    "`failed` with `reasonCode`/`reason`, or `pending` while a chunked file is on its way). "
                    "`superseded`: a later attempt of the same file succeeded. Paginated.",
    )
    def get(self, request, id):
        session = backups.session_get(user=request.user, session_id=id)
        backups.session_reconcile(session=session)
        rows = BackupFile.objects.filter(session=session).order_by("pk").prefetch_related(
            Prefetch("node", queryset=Node.objects.only("uuid")))
        outcome = request.query_params.get("outcome")
        if outcome:
            if outcome not in Outcome.values:
                raise ApplicationError(f"`outcome` is one of {', '.join(Outcome.values)}.", code="VALIDATION_ERROR")
            rows = rows.filter(outcome=outcome)
        paginator = PrimaryPagination()
        page = paginator.paginate_queryset(rows, request, view=self)
        return ok({"session": BackupSessionSerializer(session).data,
                   "summary": backups.session_summary(session=session),
                   "items": BackupFileSerializer(page, many=True).data, "pagination": paginator._meta()})


class BackupAnalyticsView(PrimaryView):
    @extend_schema(tags=["backup"], responses={200: envelope("BackupAnalytics", serializers.DictField()), **ERRORS},
                   summary="Backup statistics and progress",
                   description=(
                       "`overall` and one entry per device: `files` backed up (`filesUploaded` + "
                       "`filesAlreadyPresent`), `bytes`, `bytesUploaded` (new bytes stored), `filesFailed`, "
                       "`lastBackupAt` (last completed session), `successRate` (% of files that ended backed "
                       "up, superseded failures excluded; null before any file) and `runningSession` with "
                       "`percent` (by bytes when `expectedBytes` was given, else by files)."))
    def get(self, request):
        return ok(selectors.analytics(request.user))


CHECKED = envelope("BackupCheck", inline_serializer("BackupCheckData", fields={
    "items": inline_serializer("BackupCheckItem", many=True, fields={
        "checksum": serializers.CharField(required=False), "assetId": serializers.CharField(required=False),
        "present": serializers.BooleanField(), "fileId": serializers.UUIDField(required=False),
        "matchedBy": serializers.ChoiceField(["checksum", "assetId"], required=False)}),
    "missing": serializers.IntegerField(), "present": serializers.IntegerField()}))


class BackupCheckView(BackupThrottledView):
    @extend_schema(
        tags=["backup"], request=BackupCheckSerializer, responses={200: CHECKED, **ERRORS, 429: ErrorEnvelopeSerializer},
        summary="Which files does the server lack? (a Stratus addition)",
        description=(
            f"Before sending bytes, send up to {settings.BACKUP_CHECK_MAX_ITEMS} items, each with a SHA-256 "
            "`checksum` and/or the device's `assetId`. An item is `present` when the user holds a live file "
            "with that content, or when this device (`deviceId`) backed up that asset before and its file is "
            "still there (and, if a checksum is sent too, has that content). Send only the items answered "
            "`present: false`. Nothing is recorded."),
    )
    def post(self, request):
        payload = BackupCheckSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        device = device_services.device_get(user=request.user, device_id=data["deviceId"]) \
            if data.get("deviceId") else None
        items = backups.backup_check(user=request.user, device=device, items=data["items"])
        present = sum(1 for item in items if item["present"])
        return ok({"items": items, "present": present, "missing": len(items) - present})


# --- contacts -----------------------------------------------------------------------------

SNAPSHOT = envelope("ContactSnapshotResponse", ContactSnapshotSerializer())


class ContactsView(BackupThrottledView):
    @extend_schema(
        tags=["backup"],
        request={"application/json": ContactsJsonSerializer, "multipart/form-data": ContactsFormSerializer},
        responses={201: SNAPSHOT, 200: SNAPSHOT, **ERRORS, 429: ErrorEnvelopeSerializer},
        summary="Back up the device's contacts",
        description=(
            "JSON (`deviceId`, `format`: `json` with `contacts` [objects] or `vcard` with `vcard` text) or a "
            "multipart `file` (`.vcf` or `.json`). Stored as a new version of `Backups/<device>/Contacts/"
            f"contacts.vcf|json` (versions are kept as for any file; at most {settings.CONTACTS_MAX_SIZE} "
            "bytes). 201 with the snapshot; 200 with the latest snapshot when nothing changed since it. 400 "
            "`INVALID_CONTACTS` for unreadable data; 403 `BACKUP_DISABLED`; 404 `DEVICE_NOT_FOUND`."),
    )
    def post(self, request):
        if request.content_type.startswith("multipart/"):
            body_size_check(request, limit=settings.CONTACTS_MAX_SIZE,
                            message=f"A contacts backup is at most {settings.CONTACTS_MAX_SIZE} bytes.")
            payload = ContactsFormSerializer(data=request.data)
            payload.is_valid(raise_exception=True)
            data = payload.validated_data
            upload = data["file"]
            fmt = data.get("format") or (ContactFormat.VCARD if (upload.name or "").lower().endswith(
                (".vcf", ".vcard")) else ContactFormat.JSON)
            content = upload.read(settings.CONTACTS_MAX_SIZE + 1)
        else:
            payload = ContactsJsonSerializer(data=request.data)
            payload.is_valid(raise_exception=True)
            data = payload.validated_data
            fmt = data["format"]
            content = data["contacts"] if fmt == ContactFormat.JSON else data["vcard"]
        device = device_services.device_get(user=request.user, device_id=data["deviceId"])
        snapshot, created = contacts.contacts_backup(device=device, fmt=fmt, content=content)
        return ok(ContactSnapshotSerializer(snapshot).data,
                  message="Contacts backed up" if created else "Contacts unchanged since the last backup",
                  status=201 if created else 200)

    @extend_schema(
        tags=["backup"],
        parameters=[OpenApiParameter("deviceId", OpenApiTypes.STR, description="Only this device's snapshots.")],
        responses={200: envelope("ContactSnapshots", ContactSnapshotSerializer(many=True)), **ERRORS},
        summary="List contacts snapshots", description="Newest first.")
    def get(self, request):
        device_id = request.query_params.get("deviceId")
        device = device_services.device_get(user=request.user, device_id=device_id) if device_id else None
        snapshots = contacts.snapshots_for(request.user, device=device).select_related("node")[:500]
        return ok(ContactSnapshotSerializer(snapshots, many=True).data)


class ContactsDownloadView(PrimaryView):
    @extend_schema(
        tags=["backup"], parameters=[OpenApiParameter("id", OpenApiTypes.UUID, OpenApiParameter.PATH)],
        responses={(200, "text/vcard"): OpenApiResponse(OpenApiTypes.BINARY, description="The snapshot as stored."),
                   **ERRORS},
        summary="Download a contacts snapshot (restore)",
        description="The snapshot's bytes (`text/vcard` or `application/json`) as an attachment. 404 "
                    "`SNAPSHOT_GONE` when its file was deleted for good or the version pruned.")
    def get(self, request, id):
        snapshot = contacts.snapshot_get(user=request.user, snapshot_id=id)
        version = contacts.snapshot_version(snapshot)
        stamp = snapshot.created_at.strftime("%Y%m%d-%H%M%S")
        extension = "vcf" if snapshot.format == ContactFormat.VCARD else "json"
        return stream_version(request, version, name=f"contacts-{stamp}.{extension}")


# --- admin ---------------------------------------------------------------------------------

class AdminBackupOverviewView(PrimaryView):
    permission_classes = [IsAdminRole]

    @extend_schema(tags=["admin"], responses={200: envelope("AdminBackupOverview", serializers.DictField()),
                                               **ERRORS},
                   summary="System backup statistics (admin)",
                   description="Devices (live, backup on, active in 30 days, by platform), backup sessions by "
                               "status, files and bytes backed up, failures by reason, and the last 24 hours. "
                               "Client accounts: 403 `INSUFFICIENT_ROLE`.")
    def get(self, request):
        return ok(selectors.admin_overview())
