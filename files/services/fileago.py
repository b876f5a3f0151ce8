"""FileAgo's view of the tree: what a NODE in a URL names, what a folder
lists, and the actions of `POST /api/nodes/<NODE>`.

A NODE is a node UUID, or a special folder (`home`, `incoming`, `trash`,
`public_shares`, `private_shares`, `favorites`, `shared_with_you`), optionally
`:<owner uuid>` for a group the caller belongs to. `home` and `incoming` are real
top-level folders; the others are views computed from the tree. A group's nodes
belong to its storage account (`accounts.services.group_account`), so "may the
caller reach this node" is "is its owner the caller or one of their groups'
accounts". Anything else is 404, as if it did not exist.
"""

import uuid
from dataclasses import dataclass

from django.db.models import Exists, F, Func, IntegerField, OuterRef, Q, QuerySet, Subquery
from django.utils import timezone

from accounts.models import User, UserGroup
from accounts.services import group_account
from folders import selectors as folder_selectors
from folders import services as tree
from folders.models import Node, Special, Star
from storage_site.core.exceptions import ApplicationError, InvalidMove, NotFound

from ..models import SharedCopy, ShareLink
from . import uploads
from .nodes import node_copy
from .sharing import share_copy_with

ROOTS = {Special.HOME: "Home", Special.INCOMING: "Incoming"}
VIEWS = {"trash": "Trash", "favorites": "Favorites", "public_shares": "Public shares",
         "private_shares": "Private shares", "shared_with_you": "Shared with you"}
ACTIONS = ("new_dir", "new_name", "starred", "copy_to", "move_to", "share_copy_with")


@dataclass(frozen=True)
class Place:
    """What a NODE names: a real node (`node`), or a view folder (`view`) of `owner`."""

    owner: User
    ref: str  # how FileAgo names it: a node UUID, `trash`, `home:<group uuid>`, ...
    node: Node | None = None
    view: str = ""


# --- who may reach what ------------------------------------------------------------

def owner_ids(user) -> list[int]:
    """The storage accounts whose nodes `user` may reach: their own and their groups'."""
    groups = UserGroup.objects.filter(members=user, account__isnull=False).values_list("account_id", flat=True)
    return [user.pk, *groups]


def owner_get(*, user, owner_uuid: str | None) -> User:
    """The caller, or the storage account of a group the caller is in; else 404."""
    if owner_uuid is None:
        return user
    try:
        wanted = uuid.UUID(owner_uuid)
    except ValueError:
        raise NotFound() from None
    if wanted == user.uuid:
        return user
    group = UserGroup.objects.filter(uuid=wanted, members=user).first()
    if group is None:
        raise NotFound()
    return group_account(group=group)


def owner_info(owner: User) -> dict:
    group = UserGroup.objects.filter(account=owner).first() if owner.is_group_account else None
    if group is not None:
        return {"owner_type": "Group", "owner_uuid": str(group.uuid), "owner_fullname": group.name}
    return {"owner_type": "User", "owner_uuid": str(owner.uuid), "owner_fullname": owner.display_name}


def _special_ref(name: str, *, user, owner: User) -> str:
    if owner.pk == user.pk:
        return name
    return f"{name}:{UserGroup.objects.get(account=owner).uuid}"


def place_get(*, user, ref: str) -> Place:
    """Resolve a NODE of a FileAgo URL for `user`; unknown or out of reach → 404."""
    name, _, owner_uuid = ref.partition(":")
    if name in ROOTS or name in VIEWS:
        owner = owner_get(user=user, owner_uuid=owner_uuid or None)
        ref = _special_ref(name, user=user, owner=owner)
        if name in ROOTS:
            return Place(owner=owner, ref=ref, node=tree.root_get(user=owner, special=name))
        return Place(owner=owner, ref=ref, view=name)
    try:
        node_uuid = uuid.UUID(ref)
    except ValueError:
        raise NotFound() from None
    node = Node.objects.live().select_related("owner").filter(uuid=node_uuid, owner_id__in=owner_ids(user)).first()
    if node is None:
        raise NotFound()
    return Place(owner=node.owner, ref=str(node.uuid), node=node)


def node_of(place: Place) -> Node:
    """The real node a place names (a folder or file to act on); a view is 400."""
    if place.node is None:
        raise ApplicationError(f"'{place.ref}' is a view, not a folder or file.", code="NOT_A_NODE")
    return place.node


def folder_of(place: Place) -> Node:
    node = node_of(place)
    if not node.is_folder:
        raise ApplicationError("Not a folder.", code="NOT_A_FOLDER")
    return node


def file_of(place: Place) -> Node:
    node = node_of(place)
    if node.is_folder:
        raise ApplicationError("Not a file.", code="NOT_A_FILE")
    return node


# --- reading -------------------------------------------------------------------------

def _ms(moment) -> int:
    return int(moment.timestamp() * 1000)


def place_name(place: Place) -> str:
    if place.view:
        return VIEWS[place.view]
    return ROOTS[place.node.special] if place.node.is_root else place.node.name


def place_details(place: Place) -> dict:
    node = place.node
    created, updated = (node.created_at, node.updated_at) if node else (place.owner.date_joined,) * 2
    return {"name": place_name(place), "type": "File" if node and not node.is_folder else "Dir",
            "uuid": place.ref, **owner_info(place.owner), "created": _ms(created), "updated": _ms(updated)}


def place_path(*, user, place: Place) -> list[dict]:
    """From the top-level folder down to the node itself."""
    if place.view:
        return [{"name": VIEWS[place.view], "uuid": place.ref}]
    chain = folder_selectors.breadcrumbs(place.node) + [place.node]
    return [{"name": ROOTS[n.special], "uuid": _special_ref(n.special, user=user, owner=place.owner)}
            if n.is_root else {"name": n.name, "uuid": str(n.uuid)} for n in chain]


def _count(queryset: QuerySet, field: str = "pk", *, distinct: bool = False):
    """COUNT of a correlated queryset as a subquery: no join fan-out between counts."""
    template = "COUNT(DISTINCT %(expressions)s)" if distinct else "COUNT(%(expressions)s)"
    count = Func(F(field), template=template, output_field=IntegerField())
    return Subquery(queryset.order_by().annotate(n=count).values("n"), output_field=IntegerField())


def live_links():
    now = timezone.now()
    return ShareLink.objects.filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now),
                                    Q(max_downloads__isnull=True) | Q(download_count__lt=F("max_downloads")),
                                    revoked_at__isnull=True)


def _listed(*, user, nodes: QuerySet) -> QuerySet:
    """What a dirlist row shows, in one query. A folder's size is how many entries it
    holds (FileAgo shows `size: 4` for a Dir): its live children, or for a folder in
    the trash the children deleted with it."""
    children = Node.objects.filter(Q(trashed_at__isnull=True) | Q(trash_batch=OuterRef("trash_batch")),
                                   parent=OuterRef("pk"))
    return nodes.annotate(
        is_starred=Exists(Star.objects.filter(user=user, node=OuterRef("pk"))),
        public_shares=_count(live_links().filter(node=OuterRef("pk"))),
        private_shares=_count(SharedCopy.objects.filter(source=OuterRef("pk")), "recipient", distinct=True),
        entries=_count(children),
    ).order_by(F("kind").desc(), "name", "pk")  # "folder" > "file": folders first, as FileAgo lists


def place_children(*, user, place: Place) -> QuerySet:
    owned = Node.objects.filter(owner=place.owner)
    if place.view == "trash":
        nodes = owned.filter(trash_origin=True, trashed_at__isnull=False)
    elif place.view:
        nodes = owned.live().exclude(parent__isnull=True).filter({
            "favorites": Exists(Star.objects.filter(user=user, node=OuterRef("pk"))),
            "public_shares": Exists(live_links().filter(node=OuterRef("pk"))),
            "private_shares": Exists(SharedCopy.objects.filter(source=OuterRef("pk"))),
            "shared_with_you": Q(shared_from__isnull=False),
        }[place.view])
    else:
        nodes = owned.live().filter(parent=folder_of(place))
    return _listed(user=user, nodes=nodes)


def dirlist_row(node: Node) -> dict:
    row = {"is_starred": node.is_starred, "public_shares": node.public_shares,
           "private_shares": node.private_shares, "name": node.name,
           "size": node.entries if node.is_folder else node.size, "comment_count": 0, "uuid": str(node.uuid)}
    if not node.is_folder:
        row["revision"] = node.version
    return {**row, "updated": _ms(node.updated_at), "type": "Dir" if node.is_folder else "File"}


# --- writing ---------------------------------------------------------------------------

def files_upload(*, place: Place, files: list, uploader: User) -> list[Node]:
    """Store uploaded files (Django `UploadedFile`s) in a folder, where an existing name
    becomes a new version as in the primary API; or one file as a new revision of a
    file. The owner's quota is charged (a group's own, for a group folder). Each file
    is stored on its own: if a later one fails, the earlier ones stay."""
    node = node_of(place)
    if not files:
        raise ApplicationError("Send the file in the multipart field `file`.", code="VALIDATION_ERROR")
    if not node.is_folder:
        if len(files) > 1:
            raise ApplicationError("A new revision is one file.", code="VALIDATION_ERROR")
        return [uploads.version_upload(user=node.owner, node=node, stream=files[0], size=files[0].size,
                                       content_type=files[0].content_type, created_by=uploader)]
    return [uploads.file_upload(user=node.owner, folder=node, name=f.name or "", stream=f, size=f.size,
                                content_type=f.content_type, created_by=uploader) for f in files]


def node_delete(*, place: Place) -> None:
    tree.node_trash(node=node_of(place))


def node_act(*, user, place: Place, action: str, value) -> None:
    """One action of `POST /api/nodes/<NODE>`; targets resolve like any NODE."""
    if action == "new_dir":
        tree.folder_create(user=place.owner, parent=folder_of(place), name=value)
    elif action == "new_name":
        tree.node_rename(node=node_of(place), name=value)
    elif action == "starred":
        node = node_of(place)
        if node.is_root:
            raise ApplicationError("A top-level folder cannot be starred.", code="VALIDATION_ERROR")
        tree.star_set(user=user, node=node, starred=value)
    elif action == "copy_to":
        node_copy(user=user, node=node_of(place), target=folder_of(place_get(user=user, ref=value)))
    elif action == "move_to":
        node, target = node_of(place), folder_of(place_get(user=user, ref=value))
        if node.owner_id != target.owner_id:
            raise InvalidMove("Nodes move only within one owner's folders; copy between a user and a group.",
                              code="CROSS_OWNER_MOVE")
        tree.node_move(node=node, target=target)
    elif action == "share_copy_with":
        share_copy_with(user=user, node=node_of(place), target_ids=value)
    else:  # the serializer allows only ACTIONS
        raise ApplicationError(f"Unknown action '{action}'.", code="VALIDATION_ERROR")
