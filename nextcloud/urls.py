from django.urls import path, re_path

from files.api.public import PublicShareDownloadView

from . import avatars, chunking, previews, shares, views

app_name = "nextcloud"

OCS = r"^ocs/v(?P<version>[12])\.php/"


urlpatterns = [
    path("status.php", views.status, name="status"),
    re_path(OCS + r"cloud/capabilities/?$", views.capabilities, name="capabilities"),
    re_path(OCS + r"cloud/user/?$", views.current_user, name="user"),
    re_path(OCS + r"cloud/users/(?P<user_id>[^/]+)/?$", views.user_detail, name="user-detail"),
    re_path(OCS + r"core/apppassword/?$", views.app_password_delete, name="app-password"),
    re_path(OCS + r"apps/files_sharing/api/v1/shares/?$", shares.share_list, name="shares"),
    re_path(OCS + r"apps/files_sharing/api/v1/shares/(?P<share_id>[^/]+)/?$", shares.share_detail,
            name="share-detail"),
    re_path(OCS + r"(?P<route>.*)$", views.unknown, name="unknown"),
    path("index.php/login/v2", views.login_flow_start, name="login-flow"),
    path("index.php/login/v2/poll", views.login_flow_poll, name="login-flow-poll"),
    path("index.php/login/v2/flow/<str:login_token>", views.login_flow_page, name="login-flow-page"),
    re_path(r"^remote\.php/dav/files/(?P<user_id>[^/]+)(?:/.*)?$", views.dav_files, name="dav-files"),
    re_path(r"^remote\.php/webdav(?:/.*)?$", views.legacy_webdav, name="webdav"),
    re_path(r"^remote\.php/dav/trashbin/(?P<user_id>[^/]+)(?:/(?P<rest>.*))?$", views.dav_trashbin,
            name="dav-trashbin"),
    re_path(r"^remote\.php/dav/versions/(?P<user_id>[^/]+)(?:/(?P<rest>.*))?$", views.dav_versions,
            name="dav-versions"),
    re_path(r"^remote\.php/dav/?$", views.dav_root, name="dav-root"),
    path("index.php/avatar/<str:user_id>/<int:size>", avatars.avatar, name="avatar"),
    path("index.php/avatar/<str:user_id>/<int:size>/dark", avatars.avatar, {"dark": True}, name="avatar-dark"),
    path("index.php/login/flow", views.login_flow_legacy, name="login-flow-legacy"),
    path("index.php/login/flow/grant", views.login_flow_legacy_grant, name="login-flow-legacy-grant"),
    re_path(r"^remote\.php/dav/uploads/(?P<user_id>[^/]+)(?:/(?P<transfer_id>[^/]+)(?:/(?P<chunk>[^/]+))?)?/?$",
            chunking.uploads, name="dav-uploads"),
    path("index.php/core/preview", previews.preview, name="preview"),
    path("index.php/core/preview.png", previews.preview, name="preview-png"),
    path("s/<str:token>/download", PublicShareDownloadView.as_view(), name="share-download"),
    re_path(r"^login/v2/?$", views.login_flow_start),
    re_path(r"^login/v2/poll/?$", views.login_flow_poll),
]
