"""Every route of the web app: the share pages and the drive."""

from django.urls import path

from .views import shares

app_name = "web"

share_routes = [
    path("s/<str:token>", shares.share_page, name="share"),
    path("s/<str:token>/preview", shares.share_preview, name="share-preview"),
]

urlpatterns = share_routes
