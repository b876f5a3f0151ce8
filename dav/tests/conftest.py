import pytest

from accounts import services as accounts

from .helpers import Dav


@pytest.fixture
def app_password(user):
    return accounts.app_password_create(user=user, name="laptop")[1]


@pytest.fixture
def dav(user, app_password):
    return Dav(user.username, app_password)


@pytest.fixture
def other_dav(other_user):
    return Dav(other_user.username, accounts.app_password_create(user=other_user, name="phone")[1])
