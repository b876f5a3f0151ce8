"""The role permission that admin-only endpoints use."""

import pytest
from rest_framework.response import Response
from rest_framework.test import APIRequestFactory, force_authenticate

from accounts.permissions import IsAdminRole
from storage_site.core.api import PrimaryView

pytestmark = pytest.mark.django_db


class AdminOnly(PrimaryView):
    permission_classes = [IsAdminRole]

    def get(self, request):
        return Response({"ok": True})


def _call(user):
    request = APIRequestFactory().get("/x")
    force_authenticate(request, user=user)
    return AdminOnly.as_view()(request)


def test_client_gets_insufficient_role(user):
    resp = _call(user)
    assert resp.status_code == 403
    assert resp.data == {"success": False, "error": {"code": "INSUFFICIENT_ROLE",
                                                     "message": "This endpoint is for admin accounts only."}}


def test_admin_passes(make_user):
    assert _call(make_user(role="admin")).status_code == 200
