"""LayoodStorage preview API: generate, fetch,
describe and batch-generate previews of the user's own files, and the admins'
preview analytics. Another user's file is a 404 on every route."""

import uuid

from django.http import HttpResponse, StreamingHttpResponse
from django.utils.http import quote_etag
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema

from accounts.permissions import IsAdminRole
from folders import selectors as folder_selectors
from folders.models import Node, NodeKind
from storage_site.core import storage
from storage_site.core.api import PRIMARY_ERRORS, ErrorEnvelopeSerializer, PrimaryView, envelope, ok
from storage_site.core.exceptions import ApplicationError, NotFound

from .. import selectors, services
from ..models import PreviewStatus, PreviewType
from .serializers import (
    PreviewAnalyticsSerializer,
    PreviewBatchGenerateSerializer,
    PreviewBatchResultSerializer,
    PreviewGenerateResultSerializer,
    PreviewGenerateSerializer,
    PreviewInfoSerializer,
    PreviewPendingSerializer,
)

ID = OpenApiParameter("id", OpenApiTypes.UUID, OpenApiParameter.PATH, description="File UUID")
TYPE = OpenApiParameter("type", OpenApiTypes.STR, OpenApiParameter.PATH, enum=PreviewType.values,
                        description="`thumbnail` (longest side 256 px) or `medium` (1024 px).")
ERRORS = {**PRIMARY_ERRORS, 503: ErrorEnvelopeSerializer}
RETRY_AFTER = 2  # seconds a client waits before asking again for a pending preview


def _file(request, file_id) -> tuple[Node, int]:
    node = folder_selectors.node_get(user=request.user, node_id=file_id, kind=NodeKind.FILE)
    blob_id = selectors.file_blob_id(node)
    if blob_id is None:  # a file always has a current version; never serve a half-made one
        raise NotFound("File not found.")
    return node, blob_id


class GeneratePreviewView(PrimaryView):
    @extend_schema(
        tags=["previews"], parameters=[ID], request=PreviewGenerateSerializer,
        responses={200: envelope("PreviewGenerateResponse", PreviewGenerateResultSerializer()),
                   202: envelope("PreviewQueuedResponse", PreviewGenerateResultSerializer()), **ERRORS},
        summary="Generate the previews of a file",
        description=(
            "Queues the making of the file's previews (thumbnail and medium) and answers 202 while they are "
            "being made, or 200 with their state when there is nothing to wait for: ready already, unsupported, "
            "or made during the request (with no broker configured, tasks run in process). A failed preview is "
            "tried again; `force: true` makes ready ones again too. Previews belong to the content, so "
            "identical files share them."
        ),
    )
    def post(self, request, id):
        body = PreviewGenerateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        node, blob_id = _file(request, id)
        outcome = services.previews_request(blobs={blob_id: node.mime_type}, force=body.validated_data["force"])
        info = selectors.preview_info(node, blob_id)
        waiting = info["status"] in (PreviewStatus.PENDING, PreviewStatus.PROCESSING)
        data = {**info, "queued": outcome.get(blob_id) == services.Outcome.QUEUED,
                "outcome": outcome.get(blob_id, services.Outcome.SKIPPED)}
        return ok(data, status=202 if waiting else 200)


class PreviewView(PrimaryView):
    @extend_schema(
        tags=["previews"], parameters=[ID, TYPE],
        responses={
            (200, "image/webp"): OpenApiResponse(OpenApiTypes.BINARY, description="The preview image (WebP, or "
                                                 "JPEG when the server is configured so; see Content-Type)."),
            304: OpenApiResponse(description="Not modified (If-None-Match matched the ETag)."),
            202: envelope("PreviewPendingResponse", PreviewPendingSerializer()),
            422: OpenApiResponse(ErrorEnvelopeSerializer, description="`PREVIEW_FAILED`: the content could not "
                                 "be rendered (corrupt, truncated, too large); the message gives the reason."),
            **ERRORS,
        },
        summary="Download a preview image",
        description=(
            "The raster preview, always `image/webp` or `image/jpeg` with `X-Content-Type-Options: nosniff` "
            "(SVG, HTML and other active content are never rendered), `Cache-Control: private, no-cache` and a "
            "strong `ETag` (conditional GET answers 304). While the preview is being made: 202 with the status "
            "and `Retry-After`; asking for a file that never had previews queues them. No preview for this "
            "kind of file: 404 `PREVIEW_UNSUPPORTED` (not a failure; `NOT_FOUND` is kept for unknown files). "
            "A failed preview: 422 `PREVIEW_FAILED` with the reason. Unknown type: 400 `INVALID_PREVIEW_TYPE`."
        ),
    )
    def get(self, request, id, type):
        if type not in PreviewType.values:
            raise ApplicationError(f"Preview type must be one of: {', '.join(PreviewType.values)}.",
                                   code="INVALID_PREVIEW_TYPE")
        node, blob_id = _file(request, id)
        row = selectors.previews_of(blob_id).get(type)
        if row is None:  # content from before previews existed, or the auto-queue was off
            services.previews_request(blobs={blob_id: node.mime_type}, retry_failed=False)
            row = selectors.previews_of(blob_id).get(type)
        if row is None or row.status in (PreviewStatus.PENDING, PreviewStatus.PROCESSING):
            response = ok({"fileId": str(node.uuid), "type": type,
                           "status": row.status if row else PreviewStatus.PENDING, "retryAfter": RETRY_AFTER},
                          status=202)
            response["Retry-After"] = str(RETRY_AFTER)
            return response
        details = {"status": row.status, "reason": row.error}
        if row.status == PreviewStatus.UNSUPPORTED:
            raise ApplicationError(f"There is no preview of this file: {row.error}", code="PREVIEW_UNSUPPORTED",
                                   status_code=404, details=details)
        if row.status == PreviewStatus.FAILED:
            raise ApplicationError(f"The preview could not be made: {row.error}", code="PREVIEW_FAILED",
                                   status_code=422, details=details)
        return _serve(request, row)


def _serve(request, row):
    etag = quote_etag(row.sha256)
    if_none_match = request.headers.get("If-None-Match", "")
    if if_none_match.strip() == "*" or etag in [tag.strip().removeprefix("W/") for tag in if_none_match.split(",")]:
        response = HttpResponse(status=304)
    else:
        response = StreamingHttpResponse(storage.read_range(row.storage_key), content_type=row.content_type)
        response["Content-Length"] = str(row.bytes)
        extension = row.content_type.split("/")[-1]
        response["Content-Disposition"] = f'inline; filename="{row.preview_type}.{extension}"'
        response["Content-Security-Policy"] = "sandbox; default-src 'none'"
    response["ETag"] = etag
    response["Cache-Control"] = "private, no-cache"  # the file may get new content under the same URL
    response["X-Content-Type-Options"] = "nosniff"
    return response


class PreviewInfoView(PrimaryView):
    @extend_schema(tags=["previews"], parameters=[ID],
                   responses={200: envelope("PreviewInfoResponse", PreviewInfoSerializer()), **ERRORS},
                   summary="Preview metadata",
                   description="Status per preview type (`thumbnail`, `medium`), their sizes and URLs, what was "
                               "learnt of the media (duration, resolution, codec, pages...), the time taken "
                               "and, when failed or unsupported, the reason. `status: none` means no preview "
                               "was asked for yet.")
    def get(self, request, id):
        node, blob_id = _file(request, id)
        return ok(selectors.preview_info(node, blob_id))


class BatchGeneratePreviewsView(PrimaryView):
    @extend_schema(
        tags=["previews"], request=PreviewBatchGenerateSerializer,
        responses={200: envelope("PreviewBatchResponse", PreviewBatchResultSerializer()), **ERRORS},
        summary="Generate previews for many files",
        description=(
            "Up to 500 file UUIDs. Each file is `queued`, `skipped` (ready or in progress already, or the same "
            "content as an earlier file of the request), `unsupported`, or `notFound` (unknown, deleted, "
            "malformed, or another user's: never queued). Failed previews are tried again; `force` makes ready "
            "ones again too."
        ),
    )
    def post(self, request):
        body = PreviewBatchGenerateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        ids = list(dict.fromkeys(body.validated_data["fileIds"]))
        canonical = {file_id: _canonical_uuid(file_id) for file_id in ids}
        found = selectors.files_with_blobs(request.user, [u for u in canonical.values() if u])
        blobs: dict[int, str] = {}
        for file_id in ids:
            if canonical[file_id] in found:
                mime, blob_id = found[canonical[file_id]]
                blobs.setdefault(blob_id, mime)
        outcomes = services.previews_request(blobs=blobs, force=body.validated_data["force"])
        results, seen = [], set()
        for file_id in ids:
            if canonical[file_id] not in found:
                outcome = "notFound"
            else:
                blob_id = found[canonical[file_id]][1]
                outcome = services.Outcome.SKIPPED if blob_id in seen else outcomes.get(blob_id, "notFound")
                seen.add(blob_id)
            results.append({"fileId": file_id, "outcome": outcome})
        counts = {name: sum(1 for r in results if r["outcome"] == name)
                  for name in ("queued", "skipped", "unsupported", "notFound")}
        return ok({"requested": len(ids), **counts, "results": results})


def _canonical_uuid(value: str) -> str | None:
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return None


class PreviewAnalyticsView(PrimaryView):
    permission_classes = [IsAdminRole]

    @extend_schema(tags=["admin"],
                   responses={200: envelope("PreviewAnalyticsResponse", PreviewAnalyticsSerializer()),
                              403: ErrorEnvelopeSerializer, **ERRORS},
                   summary="Preview analytics (admin)",
                   description="Admin role only (403 `INSUFFICIENT_ROLE` otherwise): preview counts by status, "
                               "type and media kind, average time to make them, the latest failures with their "
                               "reasons, and the queue length (Redis `LLEN` of the Celery queue when the broker "
                               "is Redis, else the number of files waiting).")
    def get(self, request):
        return ok(selectors.analytics())
