"""Every route of the files app, grouped by surface."""

from django.urls import path

from . import bulk, fileago, megavault, mobile_sync, public, streamvault, streamvault_chunks, tus, views

app_name = "files"

primary = [
    path("api/files/upload", views.FileUploadView.as_view(), name="upload"),
    path("api/files/list", views.FileListView.as_view(), name="list"),
    path("api/files/<str:id>/download", views.FileDownloadView.as_view(), name="download"),
    path("api/files/<str:id>/delete", views.FileDeleteView.as_view(), name="delete"),
    path("api/files/<str:id>/info", views.FileInfoView.as_view(), name="info"),
    path("api/files/<str:id>/share", views.FileShareView.as_view(), name="share"),
    path("api/files/<str:id>/rename", views.FileRenameView.as_view(), name="rename"),
    path("api/files/<str:id>/move", views.FileMoveView.as_view(), name="move"),
    path("api/files/<str:id>/copy", views.FileCopyView.as_view(), name="copy"),
    path("api/files/<str:id>/star", views.FileStarView.as_view(), name="star"),
    path("api/files/<str:id>/versions", views.VersionListView.as_view(), name="versions"),
    path("api/files/<str:id>/versions/<str:number>/download", views.VersionDownloadView.as_view(),
         name="version-download"),
    path("api/files/<str:id>/versions/<str:number>/restore", views.VersionRestoreView.as_view(),
         name="version-restore"),
    path("api/folders/<str:id>/copy", views.FolderCopyView.as_view(), name="folder-copy"),
    path("api/search", views.SearchView.as_view(), name="search"),
    path("api/shares/<str:share_id>", views.ShareDetailView.as_view(), name="share-detail"),
    path("api/trash", views.TrashListView.as_view(), name="trash"),
    path("api/trash/<str:node_id>/restore", views.TrashRestoreView.as_view(), name="trash-restore"),
    path("api/trash/<str:node_id>", views.TrashPurgeView.as_view(), name="trash-purge"),
    path("api/user/storage-stats", views.StorageStatsView.as_view(), name="storage-stats"),
]

public_routes = [
    path("api/public/shares/<str:token>", public.PublicShareView.as_view(), name="public-share"),
    path("api/public/shares/<str:token>/unlock", public.PublicShareUnlockView.as_view(), name="public-unlock"),
    path("api/public/shares/<str:token>/download", public.PublicShareDownloadView.as_view(),
         name="public-download"),
]

# StreamVault v3/v4 file and folder routes.
streamvault_routes = [
    path("storage/api/v3/chunk_init/", streamvault_chunks.ChunkInitView.as_view(), name="sv-chunk-init"),
    path("storage/api/v3/chunk_upload/", streamvault_chunks.ChunkUploadView.as_view(), name="sv-chunk-upload"),
    path("storage/api/v3/chunk_complete/", streamvault_chunks.ChunkCompleteView.as_view(), name="sv-chunk-complete"),
    path("storage/api/v3/chunk_status/", streamvault_chunks.ChunkStatusView.as_view(), name="sv-chunk-status"),
    path("storage/api/v3/folders/", streamvault.FolderCreateView.as_view(), name="sv-folder-create"),
    path("storage/api/v3/folders/update/", streamvault.FolderUpdateView.as_view(), name="sv-folder-update"),
    path("storage/api/v3/folders/<str:token>/", streamvault.FolderByTokenView.as_view(), name="sv-folder"),
    path("storage/api/v3/files/replace/<str:id>/", streamvault.FileReplaceView.as_view(), name="sv-file-replace"),
    path("storage/api/v3/files/<str:token>/", streamvault.FileByTokenView.as_view(), name="sv-file"),
    path("storage/api/v3/files/<str:token>/download/", streamvault.FileByTokenDownloadView.as_view(),
         name="sv-file-download"),
    path("storage/api/v3/files_move/", streamvault.FileMoveView.as_view(), name="sv-file-move"),
    path("storage/api/v3/all_files/", streamvault.AllFilesView.as_view(), name="sv-all-files"),
    path("storage/api/v3/qr/<str:token>/", streamvault.QrView.as_view(), name="sv-qr"),
    path("storage/api/v3/tokens/rotate/", streamvault.TokenRotateView.as_view(), name="sv-token-rotate"),
    path("storage/media/qr/<str:name>.png", streamvault.QrImageView.as_view(), name="sv-qr-image"),
    path("api/v4/files/<str:pk>/update/", streamvault.V4FileUpdateView.as_view(), name="sv4-file-update"),
    path("api/v4/files/<str:pk>/delete/", streamvault.V4FileDeleteView.as_view(), name="sv4-file-delete"),
    path("api/v4/folders/<str:pk>/update/", streamvault.V4FolderUpdateView.as_view(), name="sv4-folder-update"),
    path("api/v4/folders/<str:pk>/delete/", streamvault.V4FolderDeleteView.as_view(), name="sv4-folder-delete"),
]

# FileAgo node routes.
fileago_routes = [
    path("api/nodes/<str:node>", fileago.NodeView.as_view(), name="fa-node"),
    path("api/nodes/<str:node>/dirlist", fileago.DirlistView.as_view(), name="fa-dirlist"),
    path("api/nodes/<str:node>/path", fileago.PathView.as_view(), name="fa-path"),
    path("api/nodes/<str:node>/upload", fileago.UploadTokenView.as_view(), name="fa-upload-token"),
    path("api/nodes/<str:node>/download", fileago.DownloadView.as_view(), name="fa-download"),
    path("upload/<str:token>", fileago.UploadView.as_view(), name="fa-upload"),
]

# Chunked-upload front doors onto the upload engine (services/upload_sessions.py).
chunked_routes = megavault.urls + bulk.urls + tus.urls

# MegaVault delta sync, conflicts and the offline queue.
sync_routes = mobile_sync.urls

urlpatterns = primary + public_routes + streamvault_routes + fileago_routes + chunked_routes + sync_routes
