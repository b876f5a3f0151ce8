import pytest

from accounts import services as accounts
from dav.tests.conftest import app_password, dav, other_dav  # noqa: F401 (the same fixtures)
from dav.tests.helpers import basic
from storage_site.testing.client import Client


@pytest.fixture
def nc(user, app_password):
    """A client signed in as a Nextcloud app does: HTTP Basic with an app password."""
    client = Client()
    client.credentials(HTTP_AUTHORIZATION=basic(user.username, app_password), HTTP_OCS_APIREQUEST="true")
    return client


@pytest.fixture
def other_nc(other_user):
    client = Client()
    client.credentials(HTTP_AUTHORIZATION=basic(other_user.username,
                                                accounts.app_password_create(user=other_user, name="phone")[1]))
    return client


@pytest.fixture
def nc_dav(dav):
    """A WebDAV client signed in as a Nextcloud app."""
    return dav


@pytest.fixture
def base(user):
    return f"/remote.php/dav/files/{user.username}"
