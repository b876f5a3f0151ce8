"""The older login flow in a real browser (chromium through Playwright) against the live
server, as the client's own browser window runs it: the web drive's sign-in, the grant,
and the `nc://login/…` URL that hands the client its app password."""

import re

import pytest

from accounts.models import AppPassword
from accounts.tests.factories import PASSWORD
from dav.tests.helpers import Dav
from storage_site.testing.browser import needs_chromium

pytestmark = [needs_chromium, pytest.mark.django_db(transaction=True)]


def test_the_older_flow_signs_in_grants_and_hands_over_an_app_password(new_page, user):
    page = new_page()
    page.set_extra_http_headers({"OCS-APIREQUEST": "true"})  # as the client's window sends it
    page.goto("/index.php/login/flow")
    assert "/signin" in page.url  # not signed in: the web drive's own sign-in
    page.fill("#identifier", user.username)
    page.fill("#password", PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r".*/index\.php/login/flow/grant\?state=.+"))
    assert page.get_by_role("button", name="Grant access").is_visible()
    assert AppPassword.objects.filter(user=user).count() == 0
    with page.expect_response(lambda r: r.request.method == "POST" and "/login/flow/grant" in r.url) as answer:
        page.get_by_role("button", name="Grant access").click()
    location = answer.value.headers["location"]
    match = re.fullmatch(r"nc://login/server:(http://[^&]+)&user:([^&]+)&password:(.+)", location)
    assert match and match[2] == user.username, location
    assert AppPassword.objects.filter(user=user).count() == 1
    assert Dav(user.username, match[3]).propfind(f"/remote.php/dav/files/{user.username}/", "0").status == 207
