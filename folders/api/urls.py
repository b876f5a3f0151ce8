"""Every route of the folders app, grouped by surface."""

from django.urls import path

from . import views

app_name = "folders"

primary = [
    path("api/folders/create", views.FolderCreateView.as_view(), name="create"),
    path("api/folders/list", views.FolderTreeView.as_view(), name="list"),
    path("api/folders/<str:id>", views.FolderDetailView.as_view(), name="detail"),
    path("api/folders/<str:id>/contents", views.FolderContentsView.as_view(), name="contents"),
    path("api/folders/<str:id>/rename", views.FolderRenameView.as_view(), name="rename"),
    path("api/folders/<str:id>/move", views.FolderMoveView.as_view(), name="move"),
    path("api/folders/<str:id>/star", views.FolderStarView.as_view(), name="star"),
    path("api/folders/<str:id>/delete", views.FolderDeleteView.as_view(), name="delete"),
]

urlpatterns = primary
