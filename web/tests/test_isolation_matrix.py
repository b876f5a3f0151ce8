"""The web drive's isolation matrix, generated from its URL configuration (like
storage_site/tests/test_security_matrix.py for the API's class-based views).

Every web route with a path parameter is called by a second user, signed in through
the browser's cookie, with GET and with POST: once with the first user's real values
and once with made-up values of the same form. Both answers must be the same refusal,
name nothing of the first user's, and change nothing. A new route fails this test
until it is given values here."""

import secrets
import uuid

import pytest
from django.test import Client as BrowserClient
from django.urls import URLResolver, get_resolver

from accounts.tests.factories import PASSWORD
from files.models import ShareLink
from files.tests.helpers import mkdir, upload
from folders.models import Node

pytestmark = pytest.mark.django_db

SECRET = "zq-web-secret"
CAPABILITY_ROUTES = {"share", "share-preview"}  # the token is the credential: only a made-up one is checked


def _web_routes():
    def walk(patterns, prefix="", namespace=None):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                yield from walk(pattern.url_patterns, prefix + str(pattern.pattern), pattern.namespace or namespace)
            else:
                yield prefix + str(pattern.pattern), pattern, namespace
    for route, pattern, namespace in walk(get_resolver().url_patterns):
        if namespace == "web" and pattern.pattern.converters:
            yield route, pattern


@pytest.fixture
def world(auth_client):
    folder = mkdir(auth_client, f"{SECRET}-folder")
    file = upload(auth_client, f"{SECRET}.txt", SECRET.encode(), folder=folder["id"])
    gone = upload(auth_client, f"{SECRET}-trashed.txt", b"old")
    assert auth_client.delete(f"/api/files/{gone['id']}/delete").status_code == 200
    share = auth_client.post(f"/api/files/{file['id']}/share", {}, format="json").json()["data"]
    fake_uuid, fake_int = str(uuid.uuid4()), "987654321"
    node, trashed = (file["id"], fake_uuid), (gone["id"], fake_uuid)
    return {
        "folder": {"id": (folder["id"], fake_uuid)},
        "rename": {"id": node}, "move": {"id": node}, "copy": {"id": node}, "star": {"id": node},
        "node-trash": {"id": node}, "file": {"id": node}, "file-content": {"id": node},
        "version-content": {"id": node, "number": ("1", "1")},
        "version-restore": {"id": node, "number": ("1", "1")},
        "file-preview": {"id": node, "type": ("thumbnail", "thumbnail")},
        "share-create": {"id": node},
        "share-revoke": {"share_id": (str(share["id"]), fake_int)},
        "share-qr": {"share_id": (str(share["id"]), fake_int)},
        "trash-restore": {"id": trashed},
    }


def _path(route: str, values: dict) -> str:
    path = route
    for name, value in values.items():
        for converter in ("str", "int"):
            path = path.replace(f"<{converter}:{name}>", value)
    return "/" + path


def _snapshot():
    return list(Node.objects.order_by("pk").values()), list(ShareLink.objects.order_by("pk").values())


def test_second_user_learns_nothing_on_any_web_route(world, other_user):
    intruder = BrowserClient()
    assert intruder.post("/signin/password", {"identifier": other_user.username,
                                              "password": PASSWORD}).status_code == 302
    before = _snapshot()
    unknown, leaks, seen = [], [], set()
    for route, pattern in _web_routes():
        seen.add(pattern.name)
        name = pattern.name
        params = list(pattern.pattern.converters)
        for method in ("get", "post"):
            if name in CAPABILITY_ROUTES:
                path = _path(route, {p: secrets.token_urlsafe(24) for p in params})
                resp = getattr(intruder, method)(path)
                if resp.status_code < 400:
                    leaks.append(f"{method.upper()} {path}: {resp.status_code} for a made-up token")
                continue
            if name not in world:
                unknown.append(route)
                break
            real = _path(route, {p: world[name][p][0] for p in params})
            fake = _path(route, {p: world[name][p][1] for p in params})
            got, baseline = getattr(intruder, method)(real), getattr(intruder, method)(fake)
            if got.status_code not in (404, 405) or got.status_code != baseline.status_code:
                leaks.append(f"{method.upper()} {real}: {got.status_code} (made-up: {baseline.status_code})")
            if SECRET.encode() in got.content:
                leaks.append(f"{method.upper()} {real}: the answer names the victim's object")
    assert seen >= set(world) | CAPABILITY_ROUTES  # the walk found the web routes
    assert not unknown, "web routes missing from the matrix: " + ", ".join(unknown)
    assert not leaks, "\n".join(leaks)
    assert _snapshot() == before
