"""FileAgo node API: who reaches what. A second user reaches nothing of
the first; group members reach the group's folders (owned by its storage
account) and no one else does; `share_copy_with` gives copies, all or nothing."""

import pytest

from accounts.models import UserGroup
from files.models import Blob, FileVersion
from folders.models import Change, Node

from .fileago_helpers import (
    act,
    details,
    dirlist,
    entry,
    fa_client,
    fa_upload,
    names,
    new_dir,
    post_upload,
    upload_token,
)
from .helpers import download, usage

pytestmark = pytest.mark.django_db

UNKNOWN = "f0000000-0000-0000-0000-000000000000"


def _not_found(resp):
    assert resp.status_code == 404, (resp.status_code, resp.content)
    assert resp.json() == {"status": "error", "msg": "Not found."}


def _snapshot():
    return (list(Node.objects.order_by("pk").values()), Change.objects.count(), FileVersion.objects.count())


# --- a second user ------------------------------------------------------------------------------

@pytest.fixture
def victim(auth_client):
    folder = new_dir(auth_client, "Private")
    file_id = fa_upload(auth_client, folder, "secret.txt", b"top secret")
    return {"folder": folder, "file": file_id}


def test_second_user_reaches_nothing_of_the_first(victim, auth_client, other_client, user, other_user, api_client):
    mine = new_dir(other_client, "Mine")
    my_file = fa_upload(other_client, mine, "mine.txt", b"mine")
    before = _snapshot()
    for node in (victim["folder"], victim["file"], f"home:{user.uuid}", f"trash:{user.uuid}",
                 f"favorites:{user.uuid}", f"incoming:{user.uuid}"):
        _not_found(other_client.get(f"/api/nodes/{node}"))
        _not_found(other_client.get(f"/api/nodes/{node}/dirlist"))
        _not_found(other_client.get(f"/api/nodes/{node}/path"))
        _not_found(other_client.get(f"/api/nodes/{node}/upload"))
        _not_found(other_client.get(f"/api/nodes/{node}/download"))
        _not_found(other_client.delete(f"/api/nodes/{node}"))
        for body in ({"new_dir": "x"}, {"new_name": "pwned"}, {"starred": True}, {"copy_to": mine},
                     {"move_to": mine}, {"share_copy_with": [str(user.uuid)]}):
            _not_found(other_client.post(f"/api/nodes/{node}", body, format="json"))
        # The first user's folder as the target of the second user's own node.
        for body in ({"copy_to": node}, {"move_to": node}):
            _not_found(other_client.post(f"/api/nodes/{my_file}", body, format="json"))
    # Their fileaccesskey opens nothing of the first user either.
    key = fa_client(other_user)[1]["fileaccesskey"]
    _not_found(api_client.get(f"/api/nodes/{victim['file']}/download?fileaccesskey={key}"))
    assert _snapshot() == before
    assert details(auth_client, victim["file"])["name"] == "secret.txt"
    assert names(other_client, "favorites") == [] and names(other_client, "trash") == []


def test_an_upload_token_is_bound_to_its_node(victim, auth_client, other_client):
    token = upload_token(other_client, "home")
    post_upload(token, "mine.txt")
    assert names(auth_client, victim["folder"]) == ["secret.txt"]
    assert names(other_client) == ["mine.txt"]


# --- groups ----------------------------------------------------------------------------------

@pytest.fixture
def group(user, make_user):
    team = UserGroup.objects.create(name="Design team")
    team.members.add(user, make_user())
    return team


def test_group_folders_for_members(group, user, auth_client):
    home = f"home:{group.uuid}"
    data = details(auth_client, home)
    assert (data["name"], data["type"], data["uuid"]) == ("Home", "Dir", home)
    assert (data["owner_type"], data["owner_uuid"], data["owner_fullname"]) == ("Group", str(group.uuid),
                                                                                 "Design team")
    folder = new_dir(auth_client, "Specs", parent=home)
    file_id = fa_upload(auth_client, folder, "spec.txt", b"group bytes")
    info = details(auth_client, file_id)
    assert (info["owner_type"], info["owner_uuid"]) == ("Group", str(group.uuid))
    assert auth_client.get(f"/api/nodes/{file_id}/path").json()["data"] == [
        {"name": "Home", "uuid": home}, {"name": "Specs", "uuid": folder}, {"name": "spec.txt", "uuid": file_id}]
    # The group's bytes count against the group's account, not the member's.
    group.refresh_from_db()
    assert group.account.storage_used == len(b"group bytes")
    assert usage(auth_client)["used"] == 0
    # ...while the version records the member who uploaded it.
    from files.models import FileVersion

    assert FileVersion.objects.get(node__uuid=file_id).created_by == user
    # Every special folder works with the group's uuid; its nodes are not the member's own.
    for special in ("incoming", "trash", "favorites", "public_shares", "private_shares", "shared_with_you"):
        assert details(auth_client, f"{special}:{group.uuid}")["owner_type"] == "Group"
    assert names(auth_client) == []
    act(auth_client, file_id, starred=True)
    assert names(auth_client, f"favorites:{group.uuid}") == ["spec.txt"] and names(auth_client, "favorites") == []
    auth_client.delete(f"/api/nodes/{folder}")
    assert names(auth_client, f"trash:{group.uuid}") == ["Specs"] and names(auth_client, "trash") == []


def test_another_member_sees_the_same_group_files(group, auth_client, client_for):
    other_member = group.members.exclude(pk=auth_client.sign_in.user.pk).get()
    peer = client_for(other_member)
    file_id = fa_upload(auth_client, f"home:{group.uuid}", "shared.txt", b"hi")
    assert names(peer, f"home:{group.uuid}") == ["shared.txt"]
    act(peer, file_id, new_name="renamed.txt")
    assert details(auth_client, file_id)["name"] == "renamed.txt"
    assert b"".join(peer.get(f"/api/nodes/{file_id}/download").streaming_content) == b"hi"


def test_non_members_reach_nothing_of_a_group(group, auth_client, other_client):
    file_id = fa_upload(auth_client, f"home:{group.uuid}", "team.txt")
    before = _snapshot()
    for node in (f"home:{group.uuid}", f"trash:{group.uuid}", f"incoming:{group.uuid}", file_id):
        for path in ("", "/dirlist", "/path", "/upload", "/download"):
            _not_found(other_client.get(f"/api/nodes/{node}{path}"))
        _not_found(other_client.post(f"/api/nodes/{node}", {"new_dir": "x"}, format="json"))
        _not_found(other_client.delete(f"/api/nodes/{node}"))
    assert _snapshot() == before


def test_leaving_a_group_ends_access_and_pending_uploads(group, user, auth_client):
    file_id = fa_upload(auth_client, f"home:{group.uuid}", "team.txt")
    token = upload_token(auth_client, f"home:{group.uuid}")
    group.members.remove(user)
    _not_found(auth_client.get(f"/api/nodes/{file_id}"))
    _not_found(auth_client.get(f"/api/nodes/home:{group.uuid}"))
    _not_found(post_upload(token, "late.txt", expect=404))
    assert Node.objects.filter(name="late.txt").count() == 0


def test_copy_between_own_and_group_folders(group, auth_client):
    own = fa_upload(auth_client, "home", "mine.txt", b"x" * 100)
    blobs = Blob.objects.count()
    act(auth_client, own, copy_to=f"home:{group.uuid}")
    copy = entry(auth_client, f"home:{group.uuid}", "mine.txt")
    assert details(auth_client, copy["uuid"])["owner_type"] == "Group"
    assert Blob.objects.count() == blobs
    group.refresh_from_db()
    assert group.account.storage_used == 100 and usage(auth_client)["used"] == 100
    # And back: a group folder copied into the member's home.
    folder = new_dir(auth_client, "Team folder", parent=f"home:{group.uuid}")
    act(auth_client, copy["uuid"], move_to=folder)
    act(auth_client, folder, copy_to="home")
    assert names(auth_client, entry(auth_client, "home", "Team folder")["uuid"]) == ["mine.txt"]
    assert usage(auth_client)["used"] == 200
    # Moving between owners is refused: that would hand bytes from one quota to another.
    before = _snapshot()
    resp = auth_client.post(f"/api/nodes/{own}", {"move_to": f"home:{group.uuid}"}, format="json")
    assert resp.status_code == 400 and resp.json()["status"] == "error"
    assert _snapshot() == before


def test_group_quota_applies_to_uploads_and_copies(group, auth_client):
    details(auth_client, f"home:{group.uuid}")  # makes the group's account
    group.refresh_from_db()
    group.account.storage_quota = 5
    group.account.save()
    post_upload(upload_token(auth_client, f"home:{group.uuid}"), "big.txt", b"too big", expect=413)
    own = fa_upload(auth_client, "home", "big.txt", b"too big")
    resp = auth_client.post(f"/api/nodes/{own}", {"copy_to": f"home:{group.uuid}"}, format="json")
    assert resp.status_code == 413 and resp.json()["status"] == "error"
    assert names(auth_client, f"home:{group.uuid}") == []


# --- share_copy_with ------------------------------------------------------------------------------

@pytest.fixture
def colleagues(user, other_user):
    """The two users work in one group: they may send each other copies."""
    team = UserGroup.objects.create(name="Colleagues")
    team.members.add(user, other_user)
    return team


def test_a_stranger_cannot_fill_a_users_quota(auth_client, other_client, other_user, make_user):
    """Anyone who knew a user's UUID could fill that user's quota with copies (the
    receiver pays). Copies go only to the sender's groups and their members: anyone
    else is 404, as an unknown UUID, and nothing is copied or charged."""
    other_user.storage_quota = 10_000
    other_user.save()
    file_id = fa_upload(auth_client, "home", "junk.bin", b"j" * 6_000)
    before = _snapshot()
    unknown = auth_client.post(f"/api/nodes/{file_id}", {"share_copy_with": [UNKNOWN]}, format="json")
    for _ in range(2):
        resp = auth_client.post(f"/api/nodes/{file_id}", {"share_copy_with": [str(other_user.uuid)]},
                                format="json")
        assert resp.status_code == 404 and resp.json()["status"] == "error"
        assert resp.json()["msg"] == unknown.json()["msg"].replace(UNKNOWN, str(other_user.uuid))
    assert _snapshot() == before
    assert usage(other_client)["used"] == 0 and names(other_client, "incoming") == []
    # A group the sender is not in is out of reach too, and so are its members.
    team = UserGroup.objects.create(name="Not mine")
    team.members.add(other_user, make_user())
    before = _snapshot()
    for target in (team.uuid, other_user.uuid):
        resp = auth_client.post(f"/api/nodes/{file_id}", {"share_copy_with": [str(target)]}, format="json")
        assert resp.status_code == 404
    assert _snapshot() == before
    # The victim's own upload still fits.
    fa_upload(other_client, "home", "mine.bin", b"m" * 9_000)


def test_share_copy_with_users_and_groups(auth_client, other_client, other_user, group, user, colleagues):
    folder = new_dir(auth_client, "Report")
    fa_upload(auth_client, folder, "report.pdf", b"r" * 300)
    blobs = Blob.objects.count()
    act(auth_client, folder, share_copy_with=[str(other_user.uuid), str(group.uuid), str(other_user.uuid)])

    # Each target has a copy in its incoming, charged to it; the bytes are stored once.
    row = entry(other_client, "incoming", "Report")
    assert (row["type"], row["size"]) == ("Dir", 1)
    assert names(other_client, row["uuid"]) == ["report.pdf"]
    assert names(other_client, "shared_with_you") == ["Report"]
    assert names(auth_client, f"incoming:{group.uuid}") == ["Report"]
    assert names(auth_client, f"shared_with_you:{group.uuid}") == ["Report"]
    assert Blob.objects.count() == blobs
    assert usage(other_client)["used"] == 300 and usage(auth_client)["used"] == 300
    group.refresh_from_db()
    assert group.account.storage_used == 300
    copy_file = entry(other_client, row["uuid"], "report.pdf")["uuid"]
    assert download(other_client, copy_file) == b"r" * 300
    # The sharer sees what they shared and with how many.
    assert names(auth_client, "private_shares") == ["Report"]
    assert entry(auth_client, "home", "Report")["private_shares"] == 2
    assert names(auth_client, "shared_with_you") == []
    # The copies are the receivers' own: changing them leaves the original alone.
    act(other_client, copy_file, new_name="mine now.pdf")
    assert names(auth_client, folder) == ["report.pdf"]


def test_share_copy_with_renames_on_a_clash_in_incoming(auth_client, other_client, other_user, colleagues):
    file_id = fa_upload(auth_client, "home", "a.txt", b"first")
    act(auth_client, file_id, share_copy_with=[str(other_user.uuid)])
    act(auth_client, file_id, share_copy_with=[str(other_user.uuid)])
    assert names(other_client, "incoming") == ["a (1).txt", "a.txt"]
    assert entry(auth_client, "home", "a.txt")["private_shares"] == 1  # one target, twice


@pytest.mark.parametrize("targets,status", [
    ([UNKNOWN], 404), (["not-a-uuid"], 400), ([], 400), ("x", 400), ([None], 400), ([{"a": 1}], 400),
])
def test_share_copy_with_bad_targets_change_nothing(auth_client, other_user, colleagues, targets, status):
    file_id = fa_upload(auth_client, "home", "a.txt")
    before = _snapshot()
    body = {"share_copy_with": [str(other_user.uuid), *targets] if isinstance(targets, list) and targets
            else targets}
    resp = auth_client.post(f"/api/nodes/{file_id}", body, format="json")
    assert resp.status_code == status, resp.content
    assert resp.json()["status"] == "error"
    assert _snapshot() == before


def test_share_copy_with_refuses_self_views_and_roots(auth_client, user, group):
    file_id = fa_upload(auth_client, "home", "a.txt")
    before = _snapshot()
    for node, targets in ((file_id, [str(user.uuid)]), ("home", [str(group.uuid)]), ("trash", [str(group.uuid)])):
        resp = auth_client.post(f"/api/nodes/{node}", {"share_copy_with": targets}, format="json")
        assert resp.status_code == 400 and resp.json()["status"] == "error"
    assert _snapshot() == before


def test_share_copy_with_is_all_or_nothing_on_quota(auth_client, other_user, make_user, colleagues):
    poor = make_user()
    poor.storage_quota = 10
    poor.save()
    colleagues.members.add(poor)
    file_id = fa_upload(auth_client, "home", "big.bin", b"b" * 100)
    before = _snapshot()
    resp = auth_client.post(f"/api/nodes/{file_id}", {"share_copy_with": [str(other_user.uuid), str(poor.uuid)]},
                            format="json")
    assert resp.status_code == 413 and resp.json()["status"] == "error"
    assert _snapshot() == before
    other_user.refresh_from_db()
    assert (other_user.storage_used, other_user.storage_reserved) == (0, 0)


def test_shared_copy_seen_through_the_fileago_sign_in(auth_client, other_user, colleagues):
    file_id = fa_upload(auth_client, "home", "hello.txt", b"hi there")
    act(auth_client, file_id, share_copy_with=[str(other_user.uuid)])
    client, signed = fa_client(other_user)
    [row] = dirlist(client, "shared_with_you")
    assert (row["name"], row["size"], row["revision"]) == ("hello.txt", 8, 1)
    assert details(client, row["uuid"])["owner_uuid"] == signed["uuid"]
    resp = client.get(f"/api/nodes/{row['uuid']}/download?fileaccesskey={signed['fileaccesskey']}")
    assert b"".join(resp.streaming_content) == b"hi there"
