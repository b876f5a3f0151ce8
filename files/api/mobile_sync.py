"""MegaVault delta sync and offline work: sync/status, sync/files, conflicts/resolve, queue/add.

A thin door onto `services/sync/`. Uploads a sync asks for go through the MegaVault
chunk door (`/api/mobile/upload/chunk`, then `/api/mobile/upload/complete`), as
those of `upload/init` do. Answers use the primary `{"success": true, "data": ...}`
envelope."""

from django.urls import path, reverse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers

from storage_site.core.api import (PRIMARY_ERRORS, ErrorBodySerializer, ErrorEnvelopeSerializer, PrimaryView,
                                   envelope, ok)
from storage_site.core.exceptions import ApplicationError
from storage_site.core.fields import INT32_MAX, IntegerField, int_schema

from ..models import SyncResolution
from .. import uploads as engine
from ..services.sync import changes, conflicts, cursor, delta, queue
from ..services.sync.entries import checksum, node_entries
from .megavault import MVInitFileAnswerSerializer, init_file_answer

ERRORS = {**PRIMARY_ERRORS, 409: ErrorEnvelopeSerializer}
MAX_CHANGES = 500
MAX_RESOLVE = 100


def _device_id(request) -> str:
    return getattr(getattr(request.user, "auth_session", None), "device_id", "") or ""


def _error(exc: ApplicationError) -> dict:
    body = {"code": exc.code, "message": exc.message}
    if exc.details:
        body["details"] = exc.details
    return body


def _first_error(errors) -> str:
    field, problems = next(iter(errors.items()))
    problem = problems[0] if isinstance(problems, list) and problems else problems
    return f"{field}: {problem}"


# --- input ---------------------------------------------------------------------------------

class SyncStatusQuerySerializer(serializers.Serializer):
    syncToken = serializers.CharField(required=False, max_length=2048)
    lastSync = serializers.DateTimeField(required=False)
    limit = IntegerField(required=False, min_value=1, max_value=delta.PAGE_MAX,
                                     default=delta.PAGE_DEFAULT)


class LocalChangeSerializer(serializers.Serializer):
    action = serializers.ChoiceField(changes.ACTIONS)
    localId = serializers.CharField(max_length=255, help_text="The phone's id of the change; results are keyed by it.")
    fileId = serializers.CharField(required=False, max_length=64,
                                   help_text="The server entry (update, rename, move, delete).")
    name = serializers.CharField(required=False, max_length=1024, trim_whitespace=False,
                                 help_text="upload, mkdir: the new entry's name; rename, move: the new name.")
    folder = serializers.CharField(required=False, allow_blank=True, max_length=4096,
                                   help_text="A path under home, e.g. `/photos` (upload, mkdir: where; move: "
                                             "the target). Missing folders are made.")
    folderId = serializers.CharField(required=False, max_length=64, help_text="The target folder by id, instead "
                                                                              "of `folder`.")
    size = IntegerField(required=False, min_value=0, help_text="upload, update: bytes.")
    checksum = serializers.CharField(required=False, max_length=80,
                                     help_text="upload, update: `sha256:<hex>` of the local content.")
    mimeType = serializers.CharField(required=False, allow_blank=True, max_length=255)
    baseVersion = IntegerField(max_value=INT32_MAX, required=False, min_value=0,
                                           help_text="The server version the local change started from.")
    baseChecksum = serializers.CharField(required=False, max_length=80,
                                         help_text="Or the checksum of the content it started from.")
    lastModified = serializers.DateTimeField(required=False)

    def validate(self, attrs):
        for key in ("checksum", "baseChecksum"):
            if attrs.get(key):
                try:
                    attrs[key] = engine.checksum_parse(attrs[key])
                except ApplicationError as exc:
                    raise serializers.ValidationError({key: exc.message}) from None
        return attrs


class SyncFilesSerializer(serializers.Serializer):
    syncToken = serializers.CharField(required=False, max_length=2048,
                                      help_text="The token of the client's last sync/status: its base.")
    localChanges = LocalChangeSerializer(many=True, min_length=1, max_length=MAX_CHANGES)


class _RawListSerializer(serializers.Serializer):
    """The envelope of a batch, checked before its items are, so one bad item is that
    item's error and not the request's."""

    def __init__(self, *args, list_field: str, max_length: int, id_field: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields[list_field] = serializers.ListField(child=serializers.DictField(), min_length=1,
                                                        max_length=max_length)
        self.list_field, self.id_field = list_field, id_field

    def validate(self, attrs):
        seen = set()
        for item in attrs[self.list_field]:
            item_id = item.get(self.id_field)
            if not isinstance(item_id, str) or not item_id.strip() or len(item_id) > 255:
                raise serializers.ValidationError(
                    {self.list_field: f"Every item needs `{self.id_field}` (text, 1-255 characters)."})
            if item_id in seen:
                raise serializers.ValidationError({self.list_field: f"`{self.id_field}` '{item_id}' appears twice."})
            seen.add(item_id)
        return attrs


class LocalDataSerializer(serializers.Serializer):
    name = serializers.CharField(required=False, max_length=1024, trim_whitespace=False)
    modifiedAt = serializers.DateTimeField(required=False)


class ResolveItemSerializer(serializers.Serializer):
    conflictId = serializers.CharField(max_length=64)
    resolution = serializers.ChoiceField(SyncResolution.values)
    fileId = serializers.CharField(required=False, max_length=64, help_text="Informative; the conflict names it.")
    localData = LocalDataSerializer(required=False)


class ResolveSerializer(serializers.Serializer):
    conflicts = ResolveItemSerializer(many=True, min_length=1, max_length=MAX_RESOLVE)


class QueueOperationSerializer(serializers.Serializer):
    id = serializers.CharField(max_length=255, help_text="The client's id: the operation is applied once.")
    type = serializers.ChoiceField(queue.TYPES)
    localPath = serializers.CharField(required=False, allow_blank=True, max_length=4096,
                                      help_text="Where the phone keeps it; stored, not used.")
    remotePath = serializers.CharField(required=False, max_length=4096,
                                       help_text="upload, mkdir: the new entry's path under home; move, rename: "
                                                 "the entry's new path.")
    fileId = serializers.CharField(required=False, max_length=64, help_text="delete, move, rename: the entry.")
    name = serializers.CharField(required=False, max_length=1024, trim_whitespace=False)
    folder = serializers.CharField(required=False, allow_blank=True, max_length=4096)
    folderId = serializers.CharField(required=False, max_length=64)
    size = IntegerField(required=False, min_value=0)
    checksum = serializers.CharField(required=False, max_length=80)
    mimeType = serializers.CharField(required=False, allow_blank=True, max_length=255)
    priority = serializers.ChoiceField(("low", "normal", "high"), default="normal")
    createdAt = serializers.DateTimeField(required=False)

    def validate_checksum(self, value):
        try:
            return engine.checksum_parse(value)
        except ApplicationError as exc:
            raise serializers.ValidationError(exc.message) from None


class QueueAddSerializer(serializers.Serializer):
    operations = QueueOperationSerializer(many=True, min_length=1, max_length=queue.MAX_OPERATIONS)


# --- output (documentation of the shapes built below) ---------------------------------------

class SyncEntrySerializer(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    folder = serializers.CharField(help_text="The path of its folder under home: `/`, `/documents`.")
    parentId = serializers.UUIDField(allow_null=True, help_text="Its folder's id (stable across renames).")
    kind = serializers.ChoiceField(("file", "folder"))
    size = serializers.IntegerField()
    modifiedAt = serializers.DateTimeField()
    checksum = serializers.CharField(allow_null=True, help_text="`sha256:<hex>`; null for folders.")
    version = serializers.IntegerField(allow_null=True, help_text="The content version; null for folders.")


class SyncDeletedSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    kind = serializers.ChoiceField(("file", "folder"))
    deletedAt = serializers.DateTimeField()


class SyncChangesSerializer(serializers.Serializer):
    created = SyncEntrySerializer(many=True)
    updated = SyncEntrySerializer(many=True)
    deleted = SyncDeletedSerializer(many=True)


class SyncServerStateSerializer(serializers.Serializer):
    version = serializers.IntegerField()
    checksum = serializers.CharField(allow_null=True)
    name = serializers.CharField()


class SyncConflictSerializer(serializers.Serializer):
    conflictId = serializers.UUIDField()
    fileId = serializers.UUIDField(allow_null=True)
    localId = serializers.CharField()
    deviceId = serializers.CharField()
    action = serializers.CharField()
    reason = serializers.ChoiceField(("modified", "exists", "pending"),
                                     help_text="modified: the server's entry changed after the client's base; "
                                               "exists: other content is at the path; pending: another device is "
                                               "uploading other content to it.")
    status = serializers.CharField()
    resolution = serializers.CharField(allow_null=True)
    local = serializers.DictField(help_text="The local change as sent.")
    server = SyncServerStateSerializer(help_text="The server's entry when the conflict was found.")
    baseVersion = serializers.IntegerField(allow_null=True)
    createdAt = serializers.DateTimeField()


class SyncStatusSerializer(serializers.Serializer):
    lastSyncAt = serializers.DateTimeField(help_text="When this answer was made.")
    hasChanges = serializers.BooleanField()
    hasMore = serializers.BooleanField(help_text="Call again with `nextSyncToken` at once for the next page.")
    full = serializers.BooleanField(help_text="A full listing (no token was sent): every live entry as "
                                              "`created`; local entries it does not list are gone.")
    changes = SyncChangesSerializer()
    conflicts = SyncConflictSerializer(many=True, help_text="Open conflicts of the account (oldest 100).")
    nextSyncToken = serializers.CharField()


class SyncUploadSerializer(MVInitFileAnswerSerializer):
    completeUrl = serializers.URLField(help_text="`POST` `{uploadId, checksum}` here when every chunk is sent.")


class SyncResultSerializer(serializers.Serializer):
    localId = serializers.CharField()
    action = serializers.CharField()
    status = serializers.CharField(help_text="applied, exists, upload, conflict or error.")
    file = SyncEntrySerializer(required=False, help_text="The server's entry after the change.")
    upload = SyncUploadSerializer(required=False, help_text="status `upload`: where to send the bytes.")
    conflict = SyncConflictSerializer(required=False)
    error = ErrorBodySerializer(required=False)


class SyncFilesAnswerSerializer(serializers.Serializer):
    results = serializers.DictField(child=SyncResultSerializer(), help_text="By `localId`, in request order.")


class ResolveResultSerializer(serializers.Serializer):
    conflictId = serializers.UUIDField()
    status = serializers.CharField(help_text="resolved, or error (the conflict stays open).")
    resolution = serializers.CharField()
    file = SyncEntrySerializer(required=False, allow_null=True, help_text="The server's entry now.")
    copy = SyncEntrySerializer(required=False, help_text="keep_both of a rename or move: the copy.")
    upload = SyncUploadSerializer(required=False, help_text="keep_local / keep_both of content: send the bytes.")
    error = ErrorBodySerializer(required=False)


class ResolveAnswerSerializer(serializers.Serializer):
    results = serializers.DictField(child=ResolveResultSerializer(), help_text="By `conflictId`.")


class QueueResultSerializer(SyncResultSerializer):
    id = serializers.CharField()
    type = serializers.CharField()
    replayed = serializers.BooleanField(help_text="Seen before: the stored result, nothing done again.")


class QueueAnswerSerializer(serializers.Serializer):
    results = serializers.DictField(child=QueueResultSerializer(), help_text="By operation `id`.")


# --- shapes ------------------------------------------------------------------------------------

def conflict_body(conflict) -> dict:
    return {"conflictId": str(conflict.uuid), "fileId": str(conflict.node.uuid) if conflict.node_id else None,
            "localId": conflict.local_id, "deviceId": conflict.device_id, "action": conflict.action,
            "reason": conflict.reason, "status": conflict.status, "resolution": conflict.resolution or None,
            "local": {key: (checksum(value) if key in ("checksum", "baseChecksum") else value)
                      for key, value in conflict.local_change.items()},
            "server": {"version": conflict.server_version, "checksum": checksum(conflict.server_checksum),
                       "name": conflict.server_name},
            "baseVersion": conflict.base_version, "createdAt": conflict.created_at}


def _upload_body(request, session) -> dict:
    return {**init_file_answer(request, session),
            "completeUrl": request.build_absolute_uri(reverse("files:mv-upload-complete"))}


def _entries(user, nodes) -> dict:
    live = [node for node in nodes if node is not None and node.trashed_at is None]
    return node_entries(user, live) if live else {}


def _outcome_body(request, outcome, entries: dict) -> dict:
    body = {"localId": outcome.local_id, "action": outcome.action, "status": outcome.status}
    if outcome.node is not None and outcome.node.pk in entries:
        body["file"] = entries[outcome.node.pk]
    if outcome.session is not None:
        body["upload"] = _upload_body(request, outcome.session)
    if outcome.conflict is not None:
        body["conflict"] = conflict_body(outcome.conflict)
    if outcome.error is not None:
        body["error"] = _error(outcome.error)
    return body


# --- views ------------------------------------------------------------------------------------

class SyncStatusView(PrimaryView):
    @extend_schema(
        tags=["megavault"],
        parameters=[
            OpenApiParameter("syncToken", OpenApiTypes.STR, description="`nextSyncToken` of the last answer."),
            OpenApiParameter("lastSync", OpenApiTypes.DATETIME,
                             description="Accepted for MegaVault clients but never used as a cursor: without a "
                                         "token the answer is a full listing."),
            OpenApiParameter("limit", int_schema(min_value=1, max_value=delta.PAGE_MAX),
                             description=f"Journal rows (or listed entries) per page, 1-{delta.PAGE_MAX}, "
                                         f"default {delta.PAGE_DEFAULT}."),
        ],
        responses={200: envelope("MVSyncStatus", SyncStatusSerializer()), 410: ErrorEnvelopeSerializer, **ERRORS},
        summary="What changed since the last sync",
        description=(
            "Cursors come from the change journal, never from clocks. **Without `syncToken`** (with or without "
            "`lastSync`) the answer is a full listing, `full: true`: every live entry under home in `created`, "
            "parents before children; page with `nextSyncToken` while `hasMore`. **With `syncToken`** the answer "
            "is what changed after it: several changes of one entry fold into one item, its latest state in the "
            "page (`created` if the client did not have it, `updated` for new content, renames and moves, "
            "`deleted` for the trash, deletion for good or a move out of home; created and deleted within the "
            "page: nothing). Apply `created` and `updated` as upserts by `id`, then `deleted` (a deleted folder "
            "takes what is still in it). Keep calling with `nextSyncToken` while `hasMore`; the last token is "
            "where the next sync starts. `conflicts` lists the account's open conflicts.\n\n"
            "Errors: a malformed or tampered token, or another account's, is 400 `INVALID_SYNC_TOKEN`. A token "
            "the server can no longer answer (its position is past the journal's end, e.g. after the database "
            "was restored from a backup, or no longer held) is **410 `SYNC_RESET`** with `details.reset: true`: "
            "drop the token and local state, and sync from scratch (call without `syncToken`)."),
    )
    def get(self, request):
        params = SyncStatusQuerySerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        token = params.validated_data.get("syncToken")
        start = cursor.token_load(request.user, token) if token else None
        page = delta.sync_page(user=request.user, cursor=start, limit=params.validated_data["limit"])
        return ok({"lastSyncAt": timezone.now(), "hasChanges": page.has_changes, "hasMore": page.has_more,
                   "full": page.full,
                   "changes": {"created": page.created, "updated": page.updated, "deleted": page.deleted},
                   "conflicts": [conflict_body(conflict) for conflict in page.conflicts],
                   "nextSyncToken": cursor.token_dump(request.user, page.cursor)})


class SyncFilesView(PrimaryView):
    @extend_schema(
        tags=["megavault"], request=SyncFilesSerializer,
        responses={200: envelope("MVSyncFiles", SyncFilesAnswerSerializer()), 410: ErrorEnvelopeSerializer,
                   **ERRORS},
        summary="Send local changes",
        description=(
            f"1-{MAX_CHANGES} changes, applied in order, each on its own; `results` by `localId`. Actions: "
            "`upload` (a new file: `name`, `folder`, `size`, `checksum`), `update` (new content of `fileId`: "
            "`size`, `checksum`, and its base: `baseVersion`, `baseChecksum` or the `syncToken`), `rename` "
            "(`fileId`, `name`), `move` (`fileId`, `folder` or `folderId`, optional `name`), `delete` (`fileId`: "
            "to the trash), `mkdir` (`name` in `folder`).\n\n"
            "Each result's `status`: `applied`; `exists` (already so: the same checksum at the path, the name "
            "already given, already deleted); `upload` — send the bytes: `PUT` each chunk to its `uploadUrl` "
            "(the MegaVault chunk door), then `POST` `completeUrl` with `{uploadId, checksum}`; an update "
            "becomes a new version, older versions stay; `conflict` — nothing applied: the server's content "
            "changed after the base (for content and deletes), the entry was renamed or moved after the token's "
            "position (for renames and moves; pull before pushing again), other content is at the path, or "
            "another device is uploading other content to the same file; resolve it with "
            "`/api/mobile/conflicts/resolve`; `error` with `error.code` (`NOT_FOUND` for ids that are not the "
            "account's, `NAME_CONFLICT`, `INVALID_NAME`, `VALIDATION_ERROR`, ...). Sending the same change "
            "again answers the same upload or conflict. A bad token is 400 `INVALID_SYNC_TOKEN` (nothing "
            "applied), one the server can no longer answer 410 `SYNC_RESET`."),
    )
    def post(self, request):
        envelope_check = _RawListSerializer(data=request.data, list_field="localChanges", max_length=MAX_CHANGES,
                                            id_field="localId")
        envelope_check.is_valid(raise_exception=True)
        token = request.data.get("syncToken")
        if token is not None and not isinstance(token, str):
            raise cursor.InvalidSyncToken()
        position = None
        if token:
            start = cursor.token_load(request.user, token)
            cursor.check(request.user, start)
            position = start.position
        ctx = changes.SyncContext(user=request.user, device_id=_device_id(request), position=position)
        outcomes = []
        for raw in envelope_check.validated_data["localChanges"]:
            item = LocalChangeSerializer(data=raw)
            if not item.is_valid():
                error = ApplicationError(_first_error(item.errors), code="VALIDATION_ERROR")
                outcomes.append(changes.Outcome(raw["localId"], str(raw.get("action", "")), changes.ERROR,
                                                error=error))
                continue
            data = item.validated_data
            outcomes.append(changes.change_apply(ctx, changes.LocalChange(
                action=data["action"], local_id=data["localId"], file_id=data.get("fileId", ""),
                name=data.get("name", ""), folder=data.get("folder"), folder_id=data.get("folderId", ""),
                size=data.get("size"), checksum=data.get("checksum", ""), mime_type=data.get("mimeType", ""),
                base_version=data.get("baseVersion"), base_checksum=data.get("baseChecksum", ""),
                modified_at=data["lastModified"].isoformat() if data.get("lastModified") else None)))
        entries = _entries(request.user, [outcome.node for outcome in outcomes])
        return ok({"results": {outcome.local_id: _outcome_body(request, outcome, entries) for outcome in outcomes}})


class ConflictResolveView(PrimaryView):
    @extend_schema(
        tags=["megavault"], request=ResolveSerializer,
        responses={200: envelope("MVConflictsResolve", ResolveAnswerSerializer()), **ERRORS},
        summary="Resolve sync conflicts",
        description=(
            f"1-{MAX_RESOLVE} conflicts. No version is lost either way. `keep_remote`: the server's entry stays. "
            "`keep_local`: `localData.name` and the local rename or move are applied; local content comes as "
            "`upload` and becomes a new version (the server's content stays as the older version); a local "
            "delete moves the entry to the trash. `keep_both`: the server's entry stays and the local one is "
            "kept beside it — content as an `upload` of \"name (conflicted copy).ext\", a rename or move as a "
            "`copy`. Resolving a conflict again with the same choice answers the same result; another choice is "
            "that item's 409 `CONFLICT_ALREADY_RESOLVED`. A `conflictId` that is not the account's makes the "
            "whole request 404 `CONFLICT_NOT_FOUND`, nothing done."),
    )
    def post(self, request):
        payload = ResolveSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        items = payload.validated_data["conflicts"]
        found = [conflicts.conflict_get(user=request.user, conflict_id=item["conflictId"]) for item in items]
        results = {}
        for item, conflict in zip(items, found):
            body = {"conflictId": str(conflict.uuid), "resolution": item["resolution"]}
            try:
                done = conflicts.conflict_resolve(user=request.user, conflict=conflict,
                                                  resolution=item["resolution"],
                                                  local_data=item.get("localData") or {})
            except ApplicationError as exc:
                results[item["conflictId"]] = {**body, "status": "error", "error": _error(exc)}
                continue
            entries = _entries(request.user, [done.node, done.copy])
            body.update(status="resolved", file=entries.get(done.node.pk) if done.node else None)
            if done.copy is not None and done.copy.pk in entries:
                body["copy"] = entries[done.copy.pk]
            if done.session is not None:
                body["upload"] = _upload_body(request, done.session)
            results[item["conflictId"]] = body
        return ok({"results": results})


class QueueAddView(PrimaryView):
    @extend_schema(
        tags=["megavault"], request=QueueAddSerializer,
        responses={200: envelope("MVQueueAdd", QueueAnswerSerializer()), **ERRORS},
        summary="Apply queued offline operations",
        description=(
            f"1-{queue.MAX_OPERATIONS} operations, each identified by the client's `id` and applied once: an `id` "
            "seen before answers its stored result with `replayed: true` and does nothing again (ids are per "
            "account). Types: `upload` (`remotePath`, `size`, `checksum` → an `upload` to send, `exists` if the "
            "same content is there, `conflict` if other content is), `delete` (`fileId` → trash), `move` "
            "(`fileId` and the new `remotePath`, or `folder`/`folderId`), `rename` (`fileId`, `name` or "
            "`remotePath`), `mkdir` (`remotePath`, parents made). A bad operation gets its own `error` (not "
            "stored: it may be sent again) and the others still apply. Results by `id`, shaped as sync/files "
            "results."),
    )
    def post(self, request):
        envelope_check = _RawListSerializer(data=request.data, list_field="operations",
                                            max_length=queue.MAX_OPERATIONS, id_field="id")
        envelope_check.is_valid(raise_exception=True)
        operations, invalid = [], {}
        for raw in envelope_check.validated_data["operations"]:
            item = QueueOperationSerializer(data=raw)
            if not item.is_valid():
                invalid[raw["id"]] = ApplicationError(_first_error(item.errors), code="VALIDATION_ERROR")
                operations.append(queue.QueueOperation(client_id=raw["id"], type=str(raw.get("type", ""))))
                continue
            data = dict(item.validated_data)
            operations.append(queue.QueueOperation(
                client_id=data.pop("id"), type=data.pop("type"), priority=data.pop("priority"),
                client_created_at=data.pop("createdAt", None), fields=data))
        valid = [op for op in operations if op.client_id not in invalid]
        done = {outcome.client_id: outcome for outcome in
                queue.queue_add(user=request.user, device_id=_device_id(request), operations=valid)}
        entries = _entries(request.user, [outcome.outcome.node for outcome in done.values()])
        results = {}
        for op in operations:
            if op.client_id in invalid:
                results[op.client_id] = {"id": op.client_id, "type": op.type, "localId": op.client_id,
                                         "action": op.type, "status": changes.ERROR, "replayed": False,
                                         "error": _error(invalid[op.client_id])}
                continue
            outcome = done[op.client_id]
            results[op.client_id] = {"id": op.client_id, "type": outcome.type, "replayed": outcome.replayed,
                                     **_outcome_body(request, outcome.outcome, entries)}
        return ok({"results": results})


urls = [
    path("api/mobile/sync/status", SyncStatusView.as_view(), name="mv-sync-status"),
    path("api/mobile/sync/files", SyncFilesView.as_view(), name="mv-sync-files"),
    path("api/mobile/conflicts/resolve", ConflictResolveView.as_view(), name="mv-conflicts-resolve"),
    path("api/mobile/queue/add", QueueAddView.as_view(), name="mv-queue-add"),
]
