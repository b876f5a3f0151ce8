"""How a node looks in sync answers:

    {"id", "name", "folder", "parentId", "kind", "size", "modifiedAt", "checksum", "version"}

`folder` is the path of the node's folder under home ("/" for home itself,
"/documents/2024"), as it is now; `parentId` is the folder's id, the reliable key
when folders are renamed. Folder paths of a whole page come from one query."""

import json
import uuid as uuid_module

from django.db import connection
from django.db.models import BooleanField, QuerySet, TextField
from django.db.models.expressions import RawSQL
from django.db.models.functions import Cast

from folders.models import Node, NodeKind, Special

HOME = str(Special.HOME.value)


def uuid_text(value) -> str:
    """A UUID read as text: PostgreSQL gives the dashed form, SQLite 32 hex digits."""
    text = str(value)
    if len(text) == 32:
        return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"
    return text


def path_ids(path: str) -> list[int]:
    return [int(part) for part in path.strip("/").split("/") if part]


def nodes_among(user, column: str, values) -> QuerySet:
    """The user's nodes whose `column` (id or uuid) is one of `values`, sent as one
    array parameter: a page names hundreds, and hundreds of bound parameters cost
    more to prepare than the query takes to run."""
    values = list(values)
    if connection.vendor == "postgresql":
        cast = "uuid[]" if column == "uuid" else "bigint[]"
        where = f'"folders_node"."{column}" = ANY(%s::{cast})'
        param = [uuid_module.UUID(str(value)) for value in values] if column == "uuid" else values
    elif connection.vendor == "sqlite":
        where = f'"folders_node"."{column}" IN (SELECT value FROM json_each(%s))'
        param = json.dumps([str(value).replace("-", "") for value in values] if column == "uuid" else values)
    else:
        return Node.objects.filter(owner=user, **{f"{column}__in": values}).order_by()
    return Node.objects.filter(RawSQL(where, [param], output_field=BooleanField()), owner=user).order_by()


def ancestors_info(user, id_lists) -> dict[int, dict]:
    """Name, uuid and root marks of every node named in `id_lists`, in one query."""
    wanted = {pk for ids in id_lists for pk in ids}
    if not wanted:
        return {}
    rows = nodes_among(user, "id", wanted).values("pk", "name", "special", "parent_id",
                                                   key=Cast("uuid", TextField()))
    return {row["pk"]: row for row in rows}


def folder_path(ids: list[int], info: dict[int, dict]) -> str | None:
    """The path under home of the folder whose chain (root first, itself last) is
    `ids`; None when it is not in the home tree (another top-level folder, gone)."""
    if not ids:
        return None
    root = info.get(ids[0])
    if root is None or root["parent_id"] is not None or root["special"] != HOME:
        return None
    names = []
    for pk in ids[1:]:
        if pk not in info:
            return None
        names.append(info[pk]["name"])
    return "/" + "/".join(names)


def checksum(sha256: str) -> str | None:
    return f"sha256:{sha256}" if sha256 else None


def entry(*, uuid, name, folder, parent_uuid, kind, size, modified_at, sha256, version) -> dict:
    is_file = kind == NodeKind.FILE
    return {"id": uuid_text(uuid), "name": name, "folder": folder,
            "parentId": uuid_text(parent_uuid) if parent_uuid else None,
            "kind": kind, "size": size if is_file else 0, "modifiedAt": modified_at,
            "checksum": checksum(sha256) if is_file else None,
            "version": version if is_file else None}


def node_entries(user, nodes: list[Node]) -> dict[int, dict]:
    """Entries of live nodes, by pk, with one query for their folders."""
    chains = {node.pk: path_ids(node.path)[:-1] for node in nodes}
    info = ancestors_info(user, chains.values())
    out = {}
    for node in nodes:
        chain = chains[node.pk]
        parent = info.get(chain[-1]) if chain else None
        out[node.pk] = entry(uuid=node.uuid, name=node.name, folder=folder_path(chain, info),
                             parent_uuid=parent["key"] if parent else None, kind=node.kind, size=node.size,
                             modified_at=node.updated_at, sha256=node.sha256,
                             version=node.version)
    return out


def node_entry(user, node: Node) -> dict:
    return node_entries(user, [node])[node.pk]
