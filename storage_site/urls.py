from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

urlpatterns = [
    # WebDAV first: a client sends several requests per file, and each one otherwise tried
    # every API route before reaching it (no other route starts with "dav").
    path("", include("dav.urls")),
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    path("", include("accounts.api.urls")),
    path("", include("folders.api.urls")),
    path("", include("previews.api.urls")),
    path("", include("files.api.urls")),
    path("", include("backups.api.urls")),
    path("", include("billing.api.urls")),
    path("", include("storage_site.dashboards.urls")),
    path("", include("nextcloud.urls")),
    path("", include("web.urls")),  # share pages and the web drive at /
]

handler404 = "storage_site.core.views.not_found"
handler500 = "storage_site.core.views.server_error"
