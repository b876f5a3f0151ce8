"""Every listing renders nodes through NodeSerializer, whose answer is built by hand for
speed: it must say exactly what its declared DRF fields (and so the OpenAPI schema) say."""

from rest_framework import serializers

from files.tests.helpers import mkdir, upload
from folders import selectors
from folders.api.serializers import NodeSerializer
from folders.models import Node


def _declared(node, context) -> dict:
    return serializers.ModelSerializer.to_representation(NodeSerializer(context=context), node)


def test_the_rendering_equals_what_the_declared_fields_give(auth_client, user, rf):
    docs = mkdir(auth_client, "Docs")
    starred = upload(auth_client, "starred.pdf", b"%PDF-1.4", folder=docs["id"])
    upload(auth_client, "plain.bin", b"")
    auth_client.post(f"/api/files/{starred['id']}/star", {}, format="json")
    request = rf.get("/")
    request.user = user
    context = {"request": request}

    annotated = list(selectors.nodes_shown(user, Node.objects.filter(owner=user)))
    plain = list(Node.objects.filter(owner=user))  # no annotations: parent and star looked up
    assert len(annotated) == len(plain) == 4  # home, the folder, two files

    for node in annotated + plain:
        assert NodeSerializer(node, context=context).data == _declared(node, context)
    rendered = {item["name"]: item for item in NodeSerializer(annotated, many=True, context=context).data}
    assert rendered["starred.pdf"]["isStarred"] is True and rendered["plain.bin"]["isStarred"] is False
    assert rendered["starred.pdf"]["createdAt"].endswith("Z")
