"""The public side of share links: no account, just the link's token."""

from django.http import HttpResponseRedirect
from django.urls import path, reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.throttling import ScopedRateThrottle

from storage_site.core.api import ErrorEnvelopeSerializer, PrimaryView, envelope, ok, prefers_html

from ..services import shares, versions
from . import downloads
from .serializers import SharePasswordSerializer, share_urls

ERRORS = {401: ErrorEnvelopeSerializer, 404: ErrorEnvelopeSerializer, 410: ErrorEnvelopeSerializer,
          429: ErrorEnvelopeSerializer}
GRANT = OpenApiParameter("grant", str, description="From `/unlock`, for password-protected links "
                                                   "(or header `X-Share-Grant`).")


class _Public(PrimaryView):
    authentication_classes = []
    permission_classes = [AllowAny]


class PublicShareView(_Public):
    @extend_schema(tags=["public"], summary="What a link points to",
                   responses={200: envelope("PublicShare", inline_serializer("PublicShareData", fields={
                       "name": serializers.CharField(), "size": serializers.IntegerField(),
                       "mimeType": serializers.CharField(), "hasPassword": serializers.BooleanField(),
                       "expiresAt": serializers.DateTimeField(allow_null=True),
                       "url": serializers.URLField(), "downloadUrl": serializers.URLField()})),
                       303: OpenApiResponse(description="A browser (`Accept` prefers `text/html`) is sent to "
                                                        "the link's page, `/s/{token}`."),
                       **ERRORS},
                   description="404 for unknown or revoked links, 410 when expired or used up. Programs get "
                               "JSON; a browser that opens this address is sent to the page (`url`).")
    def get(self, request, token):
        if prefers_html(request):  # a link from before share pages existed, opened in a browser
            return HttpResponseRedirect(reverse("web:share", args=[token]), status=303)
        link = shares.share_resolve(token=token)
        return ok({"name": link.node.name, "size": link.node.size, "mimeType": link.node.mime_type,
                   "hasPassword": link.has_password, "expiresAt": link.expires_at,
                   **share_urls(link.token, request)})


class PublicShareUnlockView(_Public):
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "share_password"

    @extend_schema(tags=["public"], request=SharePasswordSerializer, summary="Give a link's password",
                   responses={200: envelope("ShareGrant", inline_serializer("ShareGrantData", fields={
                       "grant": serializers.CharField(), "expiresIn": serializers.IntegerField()})), **ERRORS},
                   description="Returns a grant for downloads (valid 1 hour, ended by a password change). "
                               "Throttled per address and per link.")
    def post(self, request, token):
        link = shares.share_resolve(token=token)
        payload = SharePasswordSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        grant = shares.share_unlock(link=link, password=payload.validated_data["password"])
        return ok({"grant": grant, "expiresIn": shares.GRANT_MAX_AGE})


class PublicShareDownloadView(_Public):
    @extend_schema(tags=["public"], parameters=[GRANT], summary="Download through a link",
                   responses={(200, "application/octet-stream"): OpenApiTypes.BINARY,
                              (206, "application/octet-stream"): OpenApiTypes.BINARY, **ERRORS},
                   description="Streams the file's current content; `Range` supported. Every answer that "
                               "carries byte 0 counts as one download against `maxDownloads`, and all "
                               "answers together, ranges included, serve at most size × `maxDownloads` "
                               "bytes (410 past either).")
    def get(self, request, token):
        link = shares.share_resolve(token=token)
        shares.share_authorize(link=link, grant=request.query_params.get("grant")
                               or request.headers.get("X-Share-Grant"))
        version = versions.version_get(node=link.node, number=link.node.version)
        response = downloads.stream_version(request, version, name=link.node.name)
        # Charged by what is served, not by what was asked (an ignored Range still sends
        # byte 0); the body is lazy, so nothing has been read when the limit refuses.
        if request.method == "HEAD":  # no body
            return response
        return shares.share_download_charge(link=link, response=response, size=version.size)


urls = [
    path("api/public/shares/<str:token>", PublicShareView.as_view(), name="public-share"),
    path("api/public/shares/<str:token>/unlock", PublicShareUnlockView.as_view(), name="public-unlock"),
    path("api/public/shares/<str:token>/download", PublicShareDownloadView.as_view(),
         name="public-download"),
]
