from rest_framework.permissions import BasePermission

from .models import Role


class HasRole(BasePermission):
    """Allow only users of one role. Later admin endpoints use `IsAdminRole`."""

    role: str = ""
    code = "INSUFFICIENT_ROLE"

    @property
    def message(self):
        return f"This endpoint is for {self.role} accounts only."

    def has_permission(self, request, view):
        return bool(request.user and request.user.is_authenticated and request.user.role == self.role)


class IsAdminRole(HasRole):
    role = Role.ADMIN


class IsClientRole(HasRole):
    role = Role.CLIENT
