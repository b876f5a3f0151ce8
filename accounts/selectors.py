"""Reads of the accounts domain shared by several views."""

import uuid

from storage_site.core.exceptions import NotFound

from .models import AppPassword


def app_passwords_for(user):
    return AppPassword.objects.filter(user=user)


def app_password_get(*, user, app_password_id) -> AppPassword:
    """One of the user's app passwords by id; anyone else's, unknown or malformed is 404."""
    try:
        key = uuid.UUID(str(app_password_id))
    except ValueError:
        raise NotFound("App password not found.") from None
    app_password = app_passwords_for(user).filter(uuid=key).first()
    if app_password is None:
        raise NotFound("App password not found.")
    return app_password
