"""Every route of the previews app, grouped by surface. Included before the files
app's routes (storage_site/urls.py)."""

from django.urls import path

from . import views

app_name = "previews"

primary = [
    path("api/files/batch-generate-previews", views.BatchGeneratePreviewsView.as_view(), name="batch-generate"),
    path("api/files/<str:id>/generate-preview", views.GeneratePreviewView.as_view(), name="generate"),
    path("api/files/<str:id>/preview/<str:type>", views.PreviewView.as_view(), name="preview"),
    path("api/files/<str:id>/preview-info", views.PreviewInfoView.as_view(), name="info"),
]

admin_routes = [
    path("api/admin/preview-analytics", views.PreviewAnalyticsView.as_view(), name="analytics"),
]

urlpatterns = primary + admin_routes
