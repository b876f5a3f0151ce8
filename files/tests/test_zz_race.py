import os
import pytest
from files.tests.test_tus import TUS, create, patch, offset_of, OFFSET_STREAM, file_named
from files.tests.helpers import download
from files.uploads import parts as parts_module
pytestmark = pytest.mark.django_db

@pytest.mark.parametrize("cut", [0, 400])
@pytest.mark.parametrize("where", ["_part_record", "part_accept"])
def test_race(auth_client, monkeypatch, cut, where):
    data = os.urandom(1000)
    url = create(auth_client, len(data), metadata={"filename": "race.bin"})
    real = getattr(parts_module, where)
    calls = []
    def racing(*args, **kwargs):
        if not calls:
            calls.append(1)
            resp = auth_client.generic("PATCH", url, data, content_type=OFFSET_STREAM, HTTP_UPLOAD_OFFSET="0", **TUS)
            print("B", resp.status_code, resp.content[:200])
        return real(*args, **kwargs)
    monkeypatch.setattr(parts_module, where, racing)
    import files.uploads as fu
    if where == "part_accept":
        monkeypatch.setattr(fu, "part_accept", racing)
    # A: a body cut short (Content-Length says 1000, `cut` bytes arrive)
    resp = auth_client.generic("PATCH", url, data[:cut] if cut else data, content_type=OFFSET_STREAM, HTTP_UPLOAD_OFFSET="0", **TUS)
    print("A", resp.status_code, resp.content[:200])
    monkeypatch.undo()
    off = offset_of(auth_client, url)
    print("offset", off)
    if off < len(data):
        patch(auth_client, url, data[off:], off)
    assert download(auth_client, file_named(auth_client, "race.bin")["id"]) == data
