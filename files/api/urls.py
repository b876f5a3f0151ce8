"""Every route of the files app. Each API module keeps its routes in its own `urls`
list, beside its views; this file only joins the lists."""

from . import bulk, fileago, megavault, mobile_sync, public, streamvault, streamvault_chunks, tus, views

app_name = "files"

# LayoodStorage: files, versions, shares, search, trash and usage; public share links.
primary = views.urls + public.urls

# StreamVault v3/v4 files, folders, tokens and QR codes; its chunked upload.
streamvault_routes = streamvault_chunks.urls + streamvault.urls

# FileAgo nodes and their single-use upload links.
fileago_routes = fileago.urls

# Chunked-upload front doors onto the upload engine (files/uploads/).
chunked_routes = megavault.urls + bulk.urls + tus.urls

# MegaVault delta sync, conflicts and the offline queue.
sync_routes = mobile_sync.urls

urlpatterns = primary + streamvault_routes + fileago_routes + chunked_routes + sync_routes
