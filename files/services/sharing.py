"""Copies between owners: FileAgo's `share_copy_with` (a copy in each target's
`incoming`) and `copy_to` between a user's and a group's folders.

Bytes are never copied: the copy's versions point at the same blobs (one more
reference each), and the bytes are charged to the quota of whoever owns the copy.
Because the receiver pays, only people who chose to work together can send copies:
a user shares with the groups they belong to and those groups' members, no one else
(a stranger who knows a user's UUID cannot fill that user's quota).
"""

import uuid
from functools import partial

from django.db import transaction

from accounts.models import User, UserGroup
from accounts.services import group_account
from folders import services as tree
from folders.models import Node, Special
from storage_site.core.exceptions import ApplicationError, InvalidMove, NotFound

from .. import signals
from ..models import SharedCopy
from .nodes import node_copy

MAX_TARGETS = 100


def share_targets(*, user, node: Node, target_ids) -> list[User]:
    """The storage accounts named by user or group UUIDs, all checked before anything
    is written: a malformed UUID is 400; one naming nobody, or someone the sender has no
    group with, 404 (the same answer: it does not tell whether the UUID exists)."""
    if not isinstance(target_ids, list) or not target_ids:
        raise ApplicationError("`share_copy_with` must be a non-empty list of user or group UUIDs.",
                               code="VALIDATION_ERROR")
    if len(target_ids) > MAX_TARGETS:
        raise ApplicationError(f"Share with at most {MAX_TARGETS} users or groups at once.", code="VALIDATION_ERROR")
    parsed = []
    for raw in target_ids:
        try:
            parsed.append(uuid.UUID(str(raw)))
        except ValueError:
            raise ApplicationError(f"'{raw}' is not a UUID.", code="VALIDATION_ERROR") from None
    wanted = list(dict.fromkeys(parsed))  # each target once, in the order given
    my_groups = UserGroup.objects.filter(members=user)
    users = {u.uuid: u for u in User.objects.filter(uuid__in=wanted, is_active=True, is_group_account=False,
                                                      user_groups__in=my_groups).distinct()}
    groups = {g.uuid: g for g in my_groups.filter(uuid__in=wanted)}
    missing = [str(u) for u in wanted if u not in users and u not in groups]
    if missing:
        raise NotFound(f"No user or group with UUID {', '.join(missing)}.")
    accounts = [users[u] if u in users else group_account(group=groups[u]) for u in wanted]
    if any(account.pk == node.owner_id for account in accounts):
        raise ApplicationError("The node's owner already has it; share with someone else.",
                               code="VALIDATION_ERROR")
    return accounts


def share_copy_with(*, user, node: Node, target_ids) -> list[Node]:
    """Give each target (a group of the sender's, or a member of one) a copy of `node`
    in their `incoming` folder (renamed `name (1)` if they hold that name already). All
    or nothing: one target over quota, and no one gets a copy."""
    if node.is_root:
        raise InvalidMove("A top-level folder cannot be shared.")
    accounts = share_targets(user=user, node=node, target_ids=target_ids)
    copies = []
    with transaction.atomic(durable=True):
        for account in accounts:
            incoming = tree.root_get(user=account, special=Special.INCOMING)
            copy = node_copy(user=user, node=node, target=incoming, policy=tree.ConflictPolicy.RENAME)
            SharedCopy.objects.create(source=node, copy=copy, shared_by=user, recipient=account)
            copies.append(copy)
            transaction.on_commit(partial(signals.file_shared.send_robust, sender=Node, node=copy, sharer=user,
                                          recipient=account))
    return copies
