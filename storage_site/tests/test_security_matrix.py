"""The isolation matrix, generated from the URL configuration.

Every route that takes an id, UUID or token in its path is called by a second
user, with every method it serves, once with the first user's real values and
once with made-up values of the same form. The two answers must be the same
refusal (status and error code): the second user gets 403/404 and learns nothing,
not even that the object exists. The first user's objects must be unchanged.

A new route with a path parameter fails this test until it is added to
`ROUTE_VALUES` (or `CAPABILITY_ROUTES`), so no endpoint can be missed.
"""

import json
import re
import secrets
import uuid
from urllib.parse import quote

import pytest
from django.urls import URLResolver, get_resolver

from files.models import ShareLink, UploadSession
from files.tests.helpers import mkdir, upload
from folders import services as tree
from folders.models import Change, Node
from storage_site.testing.client import Client

pytestmark = pytest.mark.django_db

SECRET = "zq-secret-marker"

# Routes whose token is the credential itself (public links, QR codes, FileAgo's
# upload tokens): anyone holding it may use it, by design. For these only a
# made-up token is checked, which must be refused.
CAPABILITY_ROUTES = {
    "PublicShareView", "PublicShareUnlockView", "PublicShareDownloadView", "FolderByTokenView",
    "FileByTokenView", "FileByTokenDownloadView", "QrView", "QrImageView", "UploadView",
}


def _route_values(world: dict) -> dict:
    """view name → {path parameter: (the victim's value, a made-up value of the same form)}."""
    fake_uuid = str(uuid.uuid4())
    fake_int = "987654321"
    folder, file = (world["folder_uuid"], fake_uuid), (world["file_uuid"], fake_uuid)
    file_pk, folder_pk = (world["file_pk"], fake_int), (world["folder_pk"], fake_int)
    values = {
        "FolderDetailView": {"id": folder}, "FolderContentsView": {"id": folder},
        "FolderRenameView": {"id": folder}, "FolderMoveView": {"id": folder}, "FolderStarView": {"id": folder},
        "FolderDeleteView": {"id": folder}, "FolderCopyView": {"id": folder},
        "FileDownloadView": {"id": file}, "FileDeleteView": {"id": file}, "FileInfoView": {"id": file},
        "FileShareView": {"id": file}, "FileRenameView": {"id": file}, "FileMoveView": {"id": file},
        "FileCopyView": {"id": file}, "FileStarView": {"id": file}, "VersionListView": {"id": file},
        "VersionDownloadView": {"id": file, "number": ("1", "1")},
        "VersionRestoreView": {"id": file, "number": ("1", "1")},
        "ShareDetailView": {"share_id": (world["share_id"], fake_uuid)},
        "TrashRestoreView": {"node_id": (world["trashed_uuid"], fake_uuid)},
        "TrashPurgeView": {"node_id": (world["trashed_uuid"], fake_uuid)},
        "FileReplaceView": {"id": file_pk},
        "V4FileUpdateView": {"pk": file_pk}, "V4FileDeleteView": {"pk": file_pk},
        "V4FolderUpdateView": {"pk": folder_pk}, "V4FolderDeleteView": {"pk": folder_pk},
        "NodeView": {"node": file}, "DirlistView": {"node": folder}, "PathView": {"node": file},
        "UploadTokenView": {"node": folder}, "DownloadView": {"node": file},
        "BatchStatusView": {"upload_session": (world["mobile_batch"], fake_uuid)},
        "UploadStatusView": {"upload_id": (world["mobile_upload"], fake_uuid)},
        "BulkProgressView": {"upload_id": (world["bulk_upload"], fake_uuid)},
        "TusUploadView": {"id": (world["tus_upload"], fake_uuid)},
        "GeneratePreviewView": {"id": file}, "PreviewInfoView": {"id": file},
        "PreviewView": {"id": file, "type": ("thumbnail", "thumbnail")},
        "DeviceSettingsView": {"id": (world["device"], fake_uuid), "device_id": (world["device"], fake_uuid)},
        "DeviceRemoveView": {"id": (world["device"], fake_uuid)},
        "DeviceDetailView": {"device_id": (world["device"], fake_uuid)},
        "BackupLogsView": {"id": (world["backup_session"], fake_uuid)},
        "ContactsDownloadView": {"id": (world["contacts_snapshot"], fake_uuid)},
        "AppPasswordDetailView": {"app_password_id": (world["app_password"], fake_uuid)},
        # Admin routes: a client is refused (403) whatever the id.
        "AdminUserStorageView": {"id": (world["user_uuid"], fake_uuid)},
    }
    fake_token = secrets.token_urlsafe(32)
    for name in CAPABILITY_ROUTES:
        values[name] = None  # path parameters all get `fake_token`
    values["_fake_token"] = fake_token
    return values


def _all_routes():
    """(route pattern, pattern, namespace) of every URL."""
    def walk(patterns, prefix="", namespace=None):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                yield from walk(pattern.url_patterns, prefix + str(pattern.pattern), pattern.namespace or namespace)
            else:
                yield prefix + str(pattern.pattern), pattern, namespace
    yield from walk(get_resolver().url_patterns)


def _routes():
    """(route pattern, view class) of every URL with a path parameter, admin aside."""
    for route, pattern, _ in _all_routes():
        view_class = getattr(pattern.callback, "view_class", None)
        if pattern.pattern.converters and not route.startswith("admin/") and view_class is not None:
            yield route, pattern, view_class


def _methods(view_class) -> list[str]:
    return [m for m in ("get", "post", "put", "patch", "delete") if hasattr(view_class, m)]


def _path(pattern, route: str, kwargs: dict) -> str:
    path = route
    for name, converter in pattern.pattern.converters.items():
        placeholder = next(part for part in route.split("<")[1:] if part.split(">")[0].endswith(name))
        path = path.replace("<" + placeholder.split(">")[0] + ">", kwargs[name])
    return "/" + path


def _call(client, method: str, path: str):
    extra = {"HTTP_TUS_RESUMABLE": "1.0.0"}
    if method in ("post", "put", "patch"):
        return getattr(client, method)(path, {}, format="json", **extra)
    return getattr(client, method)(path, **extra)


def _code(resp):
    try:
        body = json.loads(resp.content)
    except (ValueError, UnicodeDecodeError):
        return None
    if isinstance(body, dict):
        error = body.get("error")
        return error.get("code") if isinstance(error, dict) else body.get("code", body.get("msg"))
    return None


@pytest.fixture
def world(auth_client, user):
    """The victim's objects, made through the public API."""
    folder = mkdir(auth_client, f"{SECRET}-folder")
    file = upload(auth_client, f"{SECRET}.txt", SECRET.encode(), folder=folder["id"])
    upload(auth_client, f"{SECRET}.txt", SECRET.encode() + b" v2", folder=folder["id"])
    gone = upload(auth_client, f"{SECRET}-trashed.txt", b"old")
    assert auth_client.delete(f"/api/files/{gone['id']}/delete").status_code == 200
    share = auth_client.post(f"/api/files/{file['id']}/share", {}, format="json").json()["data"]
    mobile = auth_client.post("/api/mobile/upload/init", {"files": [
        {"localId": "l1", "name": f"{SECRET}.mp4", "size": 10}]}, format="json")
    assert mobile.status_code == 200, mobile.content
    bulk = auth_client.post("/api/bulk-upload/start", {}, format="json")
    assert bulk.status_code in (200, 201), bulk.content
    tus = auth_client.post("/api/tus/", HTTP_TUS_RESUMABLE="1.0.0", HTTP_UPLOAD_LENGTH="5",
                           HTTP_UPLOAD_METADATA="filename " + "c2VjcmV0LnR4dA==")
    assert tus.status_code == 201, tus.content
    device = auth_client.post("/api/devices/register", {"deviceId": f"{SECRET}-phone"},
                              format="json").json()["data"]["id"]
    backup = auth_client.post("/api/backup/start", {"deviceId": device}, format="json").json()["data"]
    snapshot = auth_client.post("/api/backup/contacts", {"deviceId": device, "contacts": [{"name": SECRET}]},
                                format="json").json()["data"]
    app_password = auth_client.post("/api/app-passwords", {"name": f"{SECRET}-laptop"}, format="json").json()["data"]
    node = Node.objects.get(uuid=file["id"])
    tree.token_get(node)
    return {
        "app_password": app_password["id"], "app_password_secret": app_password["password"],
        "user_uuid": str(user.uuid), "folder_uuid": folder["id"], "file_uuid": file["id"], "file_pk": str(node.pk),
        "folder_pk": str(Node.objects.get(uuid=folder["id"]).pk), "trashed_uuid": gone["id"],
        "share_id": str(share["id"]), "mobile_batch": mobile.json()["data"]["uploadSession"],
        "mobile_upload": mobile.json()["data"]["files"][0]["uploadId"],
        "device": device, "backup_session": backup["sessionId"], "contacts_snapshot": snapshot["id"],
        "bulk_upload": bulk.json()["data"]["uploadId"], "tus_upload": tus["Location"].rstrip("/").rsplit("/", 1)[1],
    }


def _snapshot():
    from dav.models import DeadProperty, Lock

    return (list(Node.objects.order_by("pk").values()), Change.objects.count(),
            list(DeadProperty.objects.order_by("pk").values()), list(Lock.objects.order_by("pk").values()),
            list(ShareLink.objects.order_by("pk").values()),
            list(UploadSession.objects.order_by("pk").values("status", "reserved", "expires_at")))


def test_second_user_learns_nothing_on_any_route(world, other_user):
    intruder = Client()
    from accounts.models import Client as SessionClient
    from accounts.services import _sign_in

    intruder.credentials(HTTP_AUTHORIZATION="Bearer " + _sign_in(
        other_user, client=SessionClient.WEB, ip_address="127.0.0.1", user_agent="matrix").access)
    values = _route_values(world)
    before = _snapshot()
    unknown, leaks = [], []
    for route, pattern, view_class in _routes():
        name = view_class.__name__
        if name not in values:
            unknown.append(f"{route} ({name})")
            continue
        params = list(pattern.pattern.converters)
        for method in _methods(view_class):
            if values[name] is None:  # a capability: a made-up token must be refused
                path = _path(pattern, route, {p: values["_fake_token"] for p in params})
                resp = _call(intruder, method, path)
                if resp.status_code < 400:
                    leaks.append(f"{method.upper()} {path}: {resp.status_code} for a made-up token")
                continue
            real = _path(pattern, route, {p: values[name][p][0] for p in params})
            fake = _path(pattern, route, {p: values[name][p][1] for p in params})
            got, baseline = _call(intruder, method, real), _call(intruder, method, fake)
            if got.status_code < 400 or got.status_code not in (400, 403, 404, 405, 410, 412):
                leaks.append(f"{method.upper()} {real}: {got.status_code}")
            elif (got.status_code, _code(got)) != (baseline.status_code, _code(baseline)):
                leaks.append(f"{method.upper()} {real}: {got.status_code} {_code(got)} but "
                             f"{baseline.status_code} {_code(baseline)} for a made-up id")
            if SECRET.encode() in got.content:
                leaks.append(f"{method.upper()} {real}: the answer names the victim's object")
    assert not leaks, "\n".join(leaks)
    assert not unknown, "routes missing from the security matrix: " + ", ".join(unknown)
    assert _snapshot() == before


# Every WebDAV method, with a body where it takes one.
DAV_REQUESTS = [
    ("OPTIONS", b"", {}), ("GET", b"", {}), ("HEAD", b"", {}), ("PUT", SECRET.encode(), {}),
    ("DELETE", b"", {}), ("MKCOL", b"", {}),
    ("PROPFIND", b'<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:allprop/></D:propfind>', {"HTTP_DEPTH": "1"}),
    ("PROPPATCH", b'<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:x"><D:set><D:prop>'
                  b'<Z:p>1</Z:p></D:prop></D:set></D:propertyupdate>', {}),
    ("COPY", b"", {"HTTP_DESTINATION": "http://testserver/dav/stolen"}),
    ("MOVE", b"", {"HTTP_DESTINATION": "http://testserver/dav/stolen"}),
    ("LOCK", b'<?xml version="1.0"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope>'
             b'<D:locktype><D:write/></D:locktype></D:lockinfo>', {}),
    ("UNLOCK", b"", {"HTTP_LOCK_TOKEN": "<opaquelocktoken:x>"}),
]


def test_second_user_reaches_nothing_over_webdav(world, other_user, auth_client):
    """Over /dav/, a path always means the caller's own tree: the victim's folder and
    file paths answer exactly as made-up paths do, whatever the method, and nothing of
    the victim's changes (their lock does not even get in the way)."""
    import base64

    from accounts.services import app_password_create

    victim_auth = "Basic " + base64.b64encode(
        f"{auth_client.sign_in.user.username}:{world['app_password_secret']}".encode()).decode()
    lock = Client().generic("LOCK", f"/dav/{SECRET}-folder/{SECRET}.txt", DAV_REQUESTS[-2][1],
                            content_type="application/xml", HTTP_AUTHORIZATION=victim_auth)
    assert lock.status_code == 200, lock.content
    secret = app_password_create(user=other_user, name="intruder")[1]
    intruder = Client()
    intruder.credentials(HTTP_AUTHORIZATION="Basic " + base64.b64encode(
        f"{other_user.username}:{secret}".encode()).decode())
    # The victim's credentials named with the intruder's name are no sign-in either.
    stolen = Client().generic("PROPFIND", "/dav/", HTTP_DEPTH="1", HTTP_AUTHORIZATION="Basic " + base64.b64encode(
        f"{other_user.username}:{world['app_password_secret']}".encode()).decode())
    assert stolen.status_code == 401

    def answer(method, path, body, headers):
        resp = intruder.generic(method, path, body, content_type="application/xml", **headers)
        content = b"".join(resp.streaming_content) if resp.streaming else resp.content
        for echoed in (path, path[len("/dav"):], path.rstrip("/"), path[len("/dav"):].rstrip("/")):
            content = content.replace(echoed.encode(), b"<path>")  # the path the caller sent, said back
        return resp.status_code, content

    tree.home_get(user=other_user)  # the intruder's own (empty) tree
    before = _snapshot()
    leaks = []
    for real, fake in ((f"/dav/{SECRET}-folder/{SECRET}.txt", "/dav/made-up-folder/made-up.txt"),
                       (f"/dav/{SECRET}-folder/", "/dav/made-up-folder/"),
                       (f"/dav/{SECRET}-folder/{SECRET}.txt/x", "/dav/made-up-folder/made-up.txt/x")):
        for method, body, headers in DAV_REQUESTS:
            if method in ("MKCOL", "PUT", "LOCK") and real.endswith("-folder/"):
                continue  # at the top of the caller's own tree: that makes the caller's own entry
            (got, got_body), (baseline, _) = answer(method, real, body, headers), answer(method, fake, body, headers)
            if got != baseline or (got < 400 and method not in ("OPTIONS", "PROPFIND")):
                leaks.append(f"{method} {real}: {got} (made-up path: {baseline})")
            if SECRET.encode() in got_body:
                leaks.append(f"{method} {real}: the answer names the victim's object")
    listing = intruder.generic("PROPFIND", "/dav/", DAV_REQUESTS[6][1], content_type="application/xml",
                               HTTP_DEPTH="1")
    listed = b"".join(listing.streaming_content)
    assert SECRET.encode() not in listed, re.findall(rb"<D:href>(.*?)</D:href>", listed)
    assert not leaks, "\n".join(leaks)
    assert _snapshot() == before


# --- the Nextcloud dialect ----------------------------------------------------------------------

NC_NS = 'xmlns:d="DAV:" xmlns:oc="http://owncloud.org/ns"'


def _nextcloud_requests(world, victim) -> dict[str, list]:
    """Every Nextcloud route (by name) and what the intruder tries on it with the victim's
    user id, ids and paths; [] for routes that name nobody's objects (discovery, the
    sign-in flows' own tokens, the caller's own tree at the older WebDAV address)."""
    files, folder = f"/remote.php/dav/files/{victim}", f"{SECRET}-folder"
    trashed = Node.objects.get(uuid=world["trashed_uuid"])
    trash = f"/remote.php/dav/trashbin/{victim}/trash/{trashed.name}.d{trashed.pk}"
    versions = f"/remote.php/dav/versions/{victim}/versions/{world['file_pk']}"
    search = (f'<?xml version="1.0"?><d:searchrequest {NC_NS}><d:basicsearch><d:select><d:prop><oc:fileid/>'
              f"</d:prop></d:select><d:from><d:scope><d:href>/files/{victim}</d:href><d:depth>infinity</d:depth>"
              f"</d:scope></d:from><d:where><d:like><d:prop><d:displayname/></d:prop><d:literal>%</d:literal>"
              f"</d:like></d:where></d:basicsearch></d:searchrequest>").encode()
    favorites = (f'<?xml version="1.0"?><oc:filter-files {NC_NS}><d:prop><oc:fileid/></d:prop><oc:filter-rules>'
                 "<oc:favorite>1</oc:favorite></oc:filter-rules></oc:filter-files>").encode()
    upload = f"/remote.php/dav/uploads/{victim}/{SECRET}-upload"  # the victim's open chunked upload
    every = [(method, f"{files}/{folder}/{SECRET}.txt", body, headers) for method, body, headers in DAV_REQUESTS]
    return {
        "status": [], "capabilities": [], "user": [], "unknown": [], "login-flow": [], "login-flow-poll": [],
        "login-flow-page": [], "login-flow-legacy": [], "login-flow-legacy-grant": [], "webdav": [],
        "app-password": [], "share-download": [],
        "user-detail": [("GET", f"/ocs/v2.php/cloud/users/{victim}?format=json", b"", {})],
        "shares": [("GET", f"/ocs/v2.php/apps/files_sharing/api/v1/shares?path=/{folder}/{SECRET}.txt", b"", {}),
                   ("POST", f"/ocs/v2.php/apps/files_sharing/api/v1/shares?shareType=3&path=/{folder}/{SECRET}.txt",
                    b"", {})],
        "share-detail": [(method, f"/ocs/v2.php/apps/files_sharing/api/v1/shares/{world['share_id']}", b"", {})
                         for method in ("GET", "PUT", "DELETE")],
        "dav-files": every + [("REPORT", files + "/", favorites, {}),
                              ("PROPFIND", files + "/", b"", {"HTTP_DEPTH": "1"})],
        "dav-trashbin": [("PROPFIND", f"/remote.php/dav/trashbin/{victim}/trash", b"", {"HTTP_DEPTH": "1"}),
                         ("PROPFIND", trash, b"", {"HTTP_DEPTH": "0"}), ("DELETE", trash, b"", {}),
                         ("DELETE", f"/remote.php/dav/trashbin/{victim}/trash", b"", {}),
                         ("MOVE", trash, b"", {"HTTP_DESTINATION": f"http://testserver/remote.php/dav/trashbin/"
                                                                   f"{victim}/restore/x"})],
        "dav-versions": [("PROPFIND", versions, b"", {"HTTP_DEPTH": "1"}), ("GET", versions + "/1", b"", {}),
                         ("MOVE", versions + "/1", b"", {"HTTP_DESTINATION": f"http://testserver/remote.php/dav/"
                                                                             f"versions/{victim}/restore/target"})],
        "dav-root": [("SEARCH", "/remote.php/dav/", search, {})],
        "preview": [("GET", f"/index.php/core/preview?fileId={world['file_pk']}&x=64&y=64", b"", {})],
        "preview-png": [("GET", f"/index.php/core/preview.png?file=/{folder}/{SECRET}.txt&x=64&y=64", b"", {})],
        "avatar": [("GET", f"/index.php/avatar/{victim}/64", b"", {})],
        "avatar-dark": [("GET", f"/index.php/avatar/{victim}/64/dark", b"", {})],
        "dav-uploads": [("PROPFIND", upload, b"", {"HTTP_DEPTH": "1"}), ("PUT", upload + "/1", b"x", {}),
                        ("MKCOL", f"/remote.php/dav/uploads/{victim}/{SECRET}-other", b"", {}),
                        ("MOVE", upload + "/.file", b"", {"HTTP_DESTINATION": f"http://testserver{files}/x.bin"}),
                        ("DELETE", upload, b"", {})],
    }


def test_second_user_reaches_nothing_over_nextcloud(world, user, other_user):
    """Every Nextcloud URL, by every method that touches the victim's objects: refused
    (or, for a path that names the caller's own tree, not found), naming nothing of the
    victim's and changing nothing. A new Nextcloud route fails until it is listed."""
    import base64

    from accounts.services import app_password_create

    secret = app_password_create(user=other_user, name="intruder")[1]
    intruder = Client()
    intruder.credentials(HTTP_AUTHORIZATION="Basic " + base64.b64encode(
        f"{other_user.username}:{secret}".encode()).decode(), HTTP_OCS_APIREQUEST="true")
    tree.home_get(user=other_user)
    owner = Client()
    owner.credentials(HTTP_AUTHORIZATION="Basic " + base64.b64encode(
        f"{user.username}:{app_password_create(user=user, name='owner')[1]}".encode()).decode())
    opened = owner.generic("MKCOL", f"/remote.php/dav/uploads/{user.username}/{SECRET}-upload",
                           HTTP_OC_TOTAL_LENGTH="10")
    assert opened.status_code == 201, opened.content
    requests = _nextcloud_requests(world, user.username)
    names = {pattern.name for _, pattern, namespace in _all_routes() if namespace == "nextcloud" and pattern.name}
    assert not names - set(requests), "Nextcloud routes missing from the matrix: " + ", ".join(names - set(requests))
    before = _snapshot()
    leaks = []
    for name, tries in requests.items():
        for method, path, body, headers in tries:
            resp = intruder.generic(method, path, body, content_type="application/xml", **headers)
            content = b"".join(resp.streaming_content) if resp.streaming else resp.content
            if resp.status_code < 400 or resp.status_code >= 500:
                leaks.append(f"{name}: {method} {path}: {resp.status_code}")
            if SECRET.encode() in content.replace(path.encode(), b"").replace(quote(path).encode(), b""):
                leaks.append(f"{name}: {method} {path}: the answer names the victim's object")
    assert not leaks, "\n".join(leaks)
    assert _snapshot() == before
