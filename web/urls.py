"""Every route of the web app: the share pages and the drive."""

from django.urls import path

from .views import account, drive, shares

app_name = "web"

share_routes = [
    path("s/<str:token>", shares.share_page, name="share"),
    path("s/<str:token>/preview", shares.share_preview, name="share-preview"),
]

account_routes = [
    path("signin", account.signin, name="signin"),
    path("signin/password", account.signin_password, name="signin-password"),
    path("signin/code", account.signin_code, name="signin-code"),
    path("signin/verify", account.signin_verify, name="signin-verify"),
    path("signout", account.signout, name="signout"),
]

drive_routes = [
    path("", drive.folder, name="home"),
    path("folders/<str:id>", drive.folder, name="folder"),
    path("folders-new", drive.folder_create, name="folder-create"),
    path("folders-ensure", drive.folder_ensure, name="folder-ensure"),
    path("search", drive.search, name="search"),
    path("starred", drive.starred, name="starred"),
    path("recent", drive.recent, name="recent"),
    path("nodes/<str:id>/rename", drive.node_rename, name="rename"),
    path("nodes/<str:id>/move", drive.node_move, name="move"),
    path("nodes/<str:id>/copy", drive.node_copy, name="copy"),
    path("nodes/<str:id>/star", drive.node_star, name="star"),
    path("nodes/<str:id>/trash", drive.node_trash, name="node-trash"),
    path("files/<str:id>", drive.file_detail, name="file"),
    path("files/<str:id>/content", drive.file_content, name="file-content"),
    path("files/<str:id>/versions/<int:number>/content", drive.file_content, name="version-content"),
    path("files/<str:id>/versions/<int:number>/restore", drive.version_restore, name="version-restore"),
    path("files/<str:id>/preview/<str:type>", drive.file_preview, name="file-preview"),
    path("files/<str:id>/share", drive.share_create, name="share-create"),
    path("links/<str:share_id>/revoke", drive.share_revoke, name="share-revoke"),
    path("links/<str:share_id>/qr.png", drive.share_qr, name="share-qr"),
    path("trash", drive.trash, name="trash"),
    path("trash/<str:id>/restore", drive.trash_restore, name="trash-restore"),
    path("trash-empty", drive.trash_empty, name="trash-empty"),
]

urlpatterns = share_routes + account_routes + drive_routes
