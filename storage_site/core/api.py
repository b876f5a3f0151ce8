"""Small pieces every API module shares: the primary envelope, dialect base views,
lenient parsers, the client address."""

from django.conf import settings
from django.http import QueryDict
from drf_spectacular.utils import inline_serializer
from rest_framework import serializers
from rest_framework.parsers import BaseParser
from rest_framework.response import Response
from rest_framework.generics import ListAPIView
from rest_framework.views import APIView

from .pagination import PrimaryPagination
from .parsers import form_check, json_decode


def ok(data=None, *, message: str | None = None, status: int = 200) -> Response:
    """The primary API's success envelope (docs/apis.md)."""
    body = {"success": True}
    if message:
        body["message"] = message
    if data is not None:
        body["data"] = data
    return Response(body, status=status)


class PrimaryView(APIView):
    error_dialect = "primary"


class PrimaryListView(ListAPIView):
    """A paginated list in the primary envelope. Subclasses implement `listing()`."""

    error_dialect = "primary"
    pagination_class = PrimaryPagination

    def listing(self):
        raise NotImplementedError

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation has no user
            return self.serializer_class.Meta.model.objects.none()
        return self.listing()


class StreamVaultView(APIView):
    error_dialect = "streamvault"


class FileAgoView(APIView):
    error_dialect = "fileago"


def client_ip(request) -> str | None:
    """The caller's address: REMOTE_ADDR, or the entry NUM_PROXIES from the end of
    X-Forwarded-For when the server sits behind that many trusted proxies."""
    proxies = settings.REST_FRAMEWORK.get("NUM_PROXIES") or 0
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR")
    if proxies and forwarded:
        hops = [h.strip() for h in forwarded.split(",") if h.strip()]
        if hops:
            return hops[-min(proxies, len(hops))]
    return request.META.get("REMOTE_ADDR")


def prefers_html(request) -> bool:
    """A browser's navigation asks for text/html before anything JSON; programs do not."""
    accept = request.headers.get("Accept", "")
    if "text/html" not in accept:
        return False
    json_at = accept.find("application/json")
    return json_at < 0 or accept.find("text/html") < json_at


def user_agent(request) -> str:
    return request.META.get("HTTP_USER_AGENT", "")[:300]


class LenientJSONParser(BaseParser):
    """JSON sent with a form content type, as `curl -d '{...}'` does (FileAgo's
    own examples); a real form body still parses as a form."""

    media_type = "application/x-www-form-urlencoded"

    def parse(self, stream, media_type=None, parser_context=None):
        raw = stream.read() if stream else b""
        text = raw.decode(parser_context.get("encoding", "utf-8") if parser_context else "utf-8", errors="replace")
        stripped = text.lstrip()
        if stripped.startswith("{"):
            return json_decode(stripped)
        data = QueryDict(text)
        form_check(data)
        return data


# --- schema helpers -------------------------------------------------------------

class ErrorBodySerializer(serializers.Serializer):
    code = serializers.CharField(help_text="Machine-readable error code, e.g. INVALID_TOKEN.")
    message = serializers.CharField()
    details = serializers.DictField(required=False)


class ErrorEnvelopeSerializer(serializers.Serializer):
    success = serializers.BooleanField(default=False)
    error = ErrorBodySerializer()


class MessageSerializer(serializers.Serializer):
    success = serializers.BooleanField()
    message = serializers.CharField()


def envelope(name: str, data):
    """Document `{"success": true, "data": <data>}` for the primary API."""
    return inline_serializer(name=name, fields={
        "success": serializers.BooleanField(),
        "message": serializers.CharField(required=False),
        "data": data,
    })


PRIMARY_ERRORS = {400: ErrorEnvelopeSerializer, 401: ErrorEnvelopeSerializer, 404: ErrorEnvelopeSerializer,
                  429: ErrorEnvelopeSerializer}
