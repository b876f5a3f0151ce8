"""/remote.php/dav/trashbin/{userid}/: the trash of the other APIs in Nextcloud's
shape, restored by MOVE, purged by DELETE, with the same quota and journal."""

import pytest

from nextcloud.tests.test_webdav import D, NC, OC, _propfind_body, listing

pytestmark = pytest.mark.django_db

TRASH_PROPS = ("d:resourcetype d:getcontentlength oc:size oc:fileid oc:id nc:trashbin-filename "
               "nc:trashbin-original-location nc:trashbin-deletion-time")


@pytest.fixture
def trash(user):
    return f"/remote.php/dav/trashbin/{user.username}/trash"


def trash_listing(dav, trash) -> dict[str, dict]:
    return listing(dav, trash, "1", TRASH_PROPS)


def _items(dav, trash):
    return {href: props for href, props in trash_listing(dav, trash).items() if href.rstrip("/") != trash}


def test_deleted_entries_are_listed_with_location_and_time(nc_dav, base, trash, auth_client):
    nc_dav.mkcol(base + "/Docs")
    nc_dav.mkcol(base + "/Docs/Old")
    nc_dav.put(base + "/Docs/Old/a.txt", b"a" * 10)
    nc_dav.put(base + "/Docs/b.txt", b"b" * 7)
    assert nc_dav.delete(base + "/Docs/b.txt").status == 204
    assert nc_dav.delete(base + "/Docs/Old").status == 204
    items = _items(nc_dav, trash)
    assert len(items) == 2
    by_name = {props[NC + "trashbin-filename"].text: (href, props) for href, props in items.items()}
    href, file = by_name["b.txt"]
    assert file[NC + "trashbin-original-location"].text == "Docs/b.txt"
    assert file[D + "getcontentlength"].text == "7" and file[OC + "size"].text == "7"
    assert int(file[NC + "trashbin-deletion-time"].text) > 0 and len(file[D + "resourcetype"]) == 0
    href, folder = by_name["Old"]
    assert href.endswith("/") and folder[D + "resourcetype"][0].tag == D + "collection"
    assert folder[OC + "size"].text == "10" and folder[NC + "trashbin-original-location"].text == "Docs/Old"
    # The same trash as the other APIs'.
    listed = auth_client.get("/api/trash").json()["data"]["items"]
    assert sorted(item["name"] for item in listed) == ["Old", "b.txt"]
    # The trash bin collection itself carries no file id (clients skip it).
    assert OC + "fileid" not in trash_listing(nc_dav, trash)[trash + "/"]


def test_restore_by_move_brings_it_back_with_its_contents(nc_dav, base, trash, user):
    nc_dav.mkcol(base + "/Keep")
    nc_dav.put(base + "/Keep/k.txt", b"kept")
    nc_dav.delete(base + "/Keep")
    journal = user.changes.count()
    [href] = _items(nc_dav, trash)
    name = href.rstrip("/").rsplit("/", 1)[1]
    restore = f"/remote.php/dav/trashbin/{user.username}/restore/{name}"
    assert nc_dav.move(trash + "/" + name, restore).status == 201
    assert nc_dav.get(base + "/Keep/k.txt").body == b"kept"
    assert _items(nc_dav, trash) == {}
    # The journal (delta sync) sees the restore, as from the other APIs.
    assert {change.action for change in user.changes.order_by("seq")[journal:]} == {"restore"}
    assert nc_dav.move(trash + "/" + name, restore).status == 404  # gone from the trash


def test_restore_elsewhere_is_refused(nc_dav, base, trash, user, other_user):
    nc_dav.put(base + "/r.txt", b"r")
    nc_dav.delete(base + "/r.txt")
    [href] = _items(nc_dav, trash)
    name = href.rsplit("/", 1)[1]
    for destination in (base + "/r.txt", f"/remote.php/dav/trashbin/{other_user.username}/restore/{name}"):
        assert nc_dav.move(trash + "/" + name, destination).status == 403
    assert nc_dav.request("MOVE", trash + "/" + name).status == 403  # no Destination
    assert len(_items(nc_dav, trash)) == 1


def test_delete_purges_one_and_delete_of_trash_empties(nc_dav, base, trash, user, auth_client):
    nc_dav.put(base + "/one.txt", b"1" * 100)
    nc_dav.put(base + "/two.txt", b"2" * 50)
    nc_dav.delete(base + "/one.txt")
    nc_dav.delete(base + "/two.txt")
    used = auth_client.get("/api/user/storage-stats").json()["data"]["used"]
    one = next(href for href, props in _items(nc_dav, trash).items()
               if props[NC + "trashbin-filename"].text == "one.txt")
    assert nc_dav.delete(one).status == 204
    assert auth_client.get("/api/user/storage-stats").json()["data"]["used"] == used - 100
    assert nc_dav.delete(one).status == 404
    assert nc_dav.delete(trash).status == 204
    assert _items(nc_dav, trash) == {}
    assert auth_client.get("/api/user/storage-stats").json()["data"]["used"] == used - 150
    assert user.changes.filter(action="purge").count() == 2


def test_made_up_and_malformed_entries_are_404(nc_dav, trash, user):
    for name in ("nothing", "x.d999999", "x.d", "x.d12345678901234567890"):
        assert nc_dav.propfind(f"{trash}/{name}", "0", _propfind_body(TRASH_PROPS)).status == 404
        assert nc_dav.delete(f"{trash}/{name}").status == 404
    assert nc_dav.request("PUT", trash + "/new.txt", b"x").status == 405
    assert nc_dav.propfind(trash, "1", b"<not xml").status == 400


def test_another_user_reaches_nothing_of_the_trash(nc_dav, other_dav, base, trash, user, other_user):
    nc_dav.put(base + "/secret.txt", b"secret")
    nc_dav.delete(base + "/secret.txt")
    [href] = _items(nc_dav, trash)
    name = href.rsplit("/", 1)[1]
    own = f"/remote.php/dav/trashbin/{other_user.username}"
    for method, path in [("PROPFIND", trash), ("PROPFIND", href), ("DELETE", href), ("DELETE", trash)]:
        assert other_dav.request(method, path, HTTP_DEPTH="1").status == 403
    assert other_dav.move(href, f"{own}/restore/{name}").status == 403
    # By its own URL, the same entry name is a made-up one.
    assert other_dav.propfind(f"{own}/trash/{name}", "0", _propfind_body(TRASH_PROPS)).status == 404
    assert other_dav.delete(f"{own}/trash/{name}").status == 404
    assert other_dav.move(f"{own}/trash/{name}", f"{own}/restore/{name}").status == 404
    assert _items(other_dav, own + "/trash") == {}
    assert len(_items(nc_dav, trash)) == 1
