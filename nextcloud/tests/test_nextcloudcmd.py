"""nextcloudcmd (Debian's nextcloud-desktop-cmd: the Nextcloud desktop app's sync engine
without its window; nobody here wrote it) against a real server: gunicorn with the
production configuration, its own database and the storage of this test run (a local
folder or the run's S3 bucket). One server for the module; each test syncs its own
remote folder (`--path`).

- a tree with unicode names (NFC and NFD), folders 9 levels deep and a 40 MiB file syncs
  up, the files are in the LayoodStorage API with the same SHA-256; a second run changes
  nothing (the change journal, read by MegaVault delta sync, stays still); a fresh folder
  syncs down identical, modification times kept;
- uploads, renames and deletions made through the LayoodStorage API reach the client;
- local edits and deletions reach the server, deleted files land in the trash;
- an edit on both sides keeps both contents (the client's conflict copy).
"""

import hashlib
import os
import shutil
import subprocess
import unicodedata
from pathlib import Path

import pytest
import requests

from dav.tests.test_clients import dav_server  # noqa: F401 (the real server, a fixture)

pytestmark = pytest.mark.skipif(not shutil.which("nextcloudcmd"),
                                reason="needs the nextcloud-desktop-cmd Debian package (.ci/apt-packages)")

MiB = 1024 * 1024
BIG = 40 * MiB  # above the client's chunk size (10 MiB): chunked upload v2 when the server announces it
# The Nextcloud client keeps its own journal beside the files; it is not part of the tree.
CLIENT_FILES = (".sync_", "._sync_", ".owncloudsync.log")


class Server:
    """The module's server as a Nextcloud app and as the LayoodStorage API see it."""

    def __init__(self, dav, home: Path):
        self.root = dav.url.removesuffix("/dav/")
        self.login, self.password = dav.login, dav.password
        self.home = home  # the client's HOME: its config and logs
        self.http = requests.Session()
        self.http.headers["Authorization"] = f"Bearer {dav.token}"

    def api(self, method: str, path: str, **kwargs) -> dict:
        answer = self.http.request(method, self.root + path, timeout=120, **kwargs)
        assert answer.status_code in (200, 201), (method, path, answer.status_code, answer.text[:500])
        return answer.json().get("data")

    def folder(self, name: str) -> str:
        """A new folder in home: its id."""
        return self.api("POST", "/api/folders/create", json={"name": name})["id"]

    def contents(self, folder_id: str) -> dict[str, dict]:
        """A folder's entries by name (NFC)."""
        items = self.api("GET", f"/api/folders/{folder_id}/contents?pageSize=1000")["items"]
        return {unicodedata.normalize("NFC", item["name"]): item for item in items}

    def files_below(self, folder_id: str, prefix: str = "") -> dict[str, dict]:
        """Every live file below a folder by relative path (NFC)."""
        found = {}
        for name, item in self.contents(folder_id).items():
            if item["type"] == "folder":
                found.update(self.files_below(item["id"], f"{prefix}{name}/"))
            else:
                found[prefix + name] = item
        return found

    def journal_position(self) -> str:
        """The change journal's position now (MegaVault delta sync's token)."""
        data = self.api("GET", "/api/mobile/sync/status?limit=1")
        while data["hasMore"]:
            data = self.api("GET", f"/api/mobile/sync/status?limit=1000&syncToken={data['nextSyncToken']}")
        return data["nextSyncToken"]

    def changes_since(self, position: str) -> dict:
        return self.api("GET", f"/api/mobile/sync/status?limit=1000&syncToken={position}")["changes"]

    def sync(self, local: Path, remote: str, *, login: str | None = None, password: str | None = None):
        """One nextcloudcmd run of `local` against `remote`; its output when it succeeded."""
        local.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "HOME": str(self.home), "XDG_CONFIG_HOME": str(self.home / "config"),
               "XDG_DATA_HOME": str(self.home / "data"), "XDG_CACHE_HOME": str(self.home / "cache"),
               "XDG_RUNTIME_DIR": str(self.home / "run"), "QT_QPA_PLATFORM": "offscreen"}
        run = subprocess.run(["nextcloudcmd", "--non-interactive", "--max-sync-retries", "1",
                              "-u", login or self.login, "-p", password or self.password, "--path", remote,
                              str(local), self.root], env=env, capture_output=True, text=True, timeout=900)
        assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-5000:]
        return run.stderr


@pytest.fixture(scope="module")
def server(dav_server, tmp_path_factory):  # noqa: F811
    home = tmp_path_factory.mktemp("nextcloudcmd-home")
    (home / "run").mkdir(mode=0o700)
    return Server(dav_server, home)


def local_files(root: Path) -> dict[str, Path]:
    """Every file below a local folder by relative path (NFC), the client's own files left out."""
    return {unicodedata.normalize("NFC", str(path.relative_to(root))): path for path in root.rglob("*")
            if path.is_file() and not path.name.startswith(CLIENT_FILES)}


def sha256(path: Path) -> str:
    with open(path, "rb") as stream:
        return hashlib.file_digest(stream, "sha256").hexdigest()


def write_tree(root: Path) -> None:
    deep = root.joinpath(*[f"level{n}" for n in range(1, 10)])
    deep.mkdir(parents=True)
    (deep / "bottom.txt").write_bytes(b"nine folders down")
    (root / unicodedata.normalize("NFC", "Café crème.txt")).write_bytes("NFC name".encode())
    (root / unicodedata.normalize("NFD", "Résumé élève.txt")).write_bytes("NFD name".encode())
    (root / "日本語 フォルダ").mkdir()
    (root / "日本語 フォルダ" / "写真 😀.txt").write_bytes("emoji".encode() * 100)
    (root / "empty.txt").write_bytes(b"")
    with open(root / "big.bin", "wb") as out:
        for _ in range(BIG // MiB):
            out.write(os.urandom(MiB))
    for n, path in enumerate(sorted(p for p in root.rglob("*") if p.is_file())):
        os.utime(path, (1_600_000_000 + n * 3600, 1_600_000_000 + n * 3600))  # times the server must keep


def fingerprints(root: Path) -> dict[str, tuple[str, int]]:
    """Every file below a local folder: its SHA-256 and modification time (whole seconds)."""
    return {name: (sha256(path), int(path.stat().st_mtime)) for name, path in local_files(root).items()}


def test_a_tree_syncs_up_then_nothing_then_down_identical(server, tmp_path):
    folder_id = server.folder("Tree")
    up = tmp_path / "up"
    write_tree(up)
    sent = fingerprints(up)
    server.sync(up, "/Tree")

    stored = server.files_below(folder_id)
    assert sorted(stored) == sorted(sent)
    for name, (digest, _) in sent.items():
        assert stored[name]["sha256"] == digest, name

    # A second run propagates nothing: no entry of the account changes.
    position = server.journal_position()
    server.sync(up, "/Tree")
    assert server.changes_since(position) == {"created": [], "updated": [], "deleted": []}
    assert fingerprints(up) == sent

    down = tmp_path / "down"
    server.sync(down, "/Tree")
    assert fingerprints(down) == sent


def test_changes_made_through_the_api_reach_the_client(server, tmp_path):
    folder_id = server.folder("FromApi")
    local = tmp_path / "local"
    (local / "sub").mkdir(parents=True)
    (local / "keep.txt").write_bytes(b"kept")
    (local / "rename-me.txt").write_bytes(b"renamed through the API")
    (local / "sub" / "delete-me.txt").write_bytes(b"deleted through the API")
    server.sync(local, "/FromApi")

    entries = server.contents(folder_id)
    server.api("POST", "/api/files/upload", data={"folderId": folder_id},
               files={"file": ("uploaded ünï.txt", b"uploaded through the API")})
    server.api("POST", f"/api/files/{entries['rename-me.txt']['id']}/rename", json={"name": "renamed.txt"})
    doomed = server.contents(entries["sub"]["id"])["delete-me.txt"]
    server.api("DELETE", f"/api/files/{doomed['id']}/delete")
    server.sync(local, "/FromApi")

    assert {name: path.read_bytes() for name, path in local_files(local).items()} == {
        "keep.txt": b"kept", "renamed.txt": b"renamed through the API",
        "uploaded ünï.txt": b"uploaded through the API"}


def test_local_edits_and_deletions_reach_the_server(server, tmp_path):
    folder_id = server.folder("FromClient")
    local = tmp_path / "local"
    (local / "gone").mkdir(parents=True)
    for name in ("edit.txt", "delete.txt", "gone/inside.txt"):
        (local / name).write_bytes(b"first " + name.encode())
    server.sync(local, "/FromClient")
    before = server.files_below(folder_id)
    gone_id = server.contents(folder_id)["gone"]["id"]

    (local / "edit.txt").write_bytes(b"edited on the laptop, longer than before")
    (local / "delete.txt").unlink()
    shutil.rmtree(local / "gone")
    (local / "new.txt").write_bytes(b"new")
    server.sync(local, "/FromClient")

    stored = server.files_below(folder_id)
    assert sorted(stored) == ["edit.txt", "new.txt"]
    assert stored["edit.txt"]["sha256"] == hashlib.sha256(b"edited on the laptop, longer than before").hexdigest()
    assert stored["edit.txt"]["id"] == before["edit.txt"]["id"] and stored["edit.txt"]["version"] == 2
    trashed = {item["id"]: item["name"] for item in server.api("GET", "/api/trash?pageSize=1000")["items"]}
    assert trashed[before["delete.txt"]["id"]] == "delete.txt" and trashed[gone_id] == "gone"


def test_an_edit_on_both_sides_keeps_both(server, tmp_path):
    folder_id = server.folder("Conflict")
    local = tmp_path / "local"
    local.mkdir()
    (local / "notes.txt").write_bytes(b"the first words")
    server.sync(local, "/Conflict")

    server.api("POST", "/api/files/upload", data={"folderId": folder_id},
               files={"file": ("notes.txt", b"written on the phone")})
    (local / "notes.txt").write_bytes(b"written on the laptop meanwhile")
    server.sync(local, "/Conflict")

    kept = {name: path.read_bytes() for name, path in local_files(local).items()}
    assert kept.pop("notes.txt") == b"written on the phone"
    [(conflict_copy, content)] = kept.items()
    assert "conflicted copy" in conflict_copy and content == b"written on the laptop meanwhile"
    assert server.contents(folder_id)["notes.txt"]["sha256"] == hashlib.sha256(b"written on the phone").hexdigest()
