"""The drive and the share pages in a real browser (chromium through Playwright) against
the live server: what a person does, click by click. Screenshots of the main pages are
written on the way (see conftest.py)."""

import hashlib
import io
import os
import re
from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.tests.factories import PASSWORD
from files.models import ShareLink
from files.services import shares
from files.services.uploads import file_upload
from folders import services as tree
from folders.models import Node

from storage_site.testing.browser import DESKTOP, PHONE, needs_chromium

pytestmark = [needs_chromium, pytest.mark.django_db(transaction=True)]

MiB = 1024 * 1024


def put(user, name: str, data: bytes, folder=None) -> Node:
    folder = folder or tree.home_get(user=user)
    return file_upload(user=user, folder=folder, name=name, stream=io.BytesIO(data), size=len(data))


def sign_in(page, user, next_path="/"):
    page.goto(f"/signin?next={next_path}")
    page.fill("#identifier", user.username)
    page.fill("#password", PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r".*" + re.escape(next_path) + r"$"))


def row(page, name: str):
    return page.locator("tr", has=page.get_by_role("link", name=name, exact=True))


# --- sign-in ---------------------------------------------------------------------------

def test_sign_in_by_password_and_out(new_page, user, shot):
    page = new_page()
    page.goto("/")
    assert "/signin" in page.url
    shot(page, "signin-desktop")
    sign_in(page, user)
    assert page.get_by_role("heading", name="My files").is_visible()
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(re.compile(r".*/signin$"))
    page.goto("/")
    assert "/signin" in page.url


def test_sign_in_by_whatsapp_code(new_page, whatsapp_outbox, shot):
    page = new_page(PHONE)
    page.goto("/signin")
    page.fill("#phone", "+919800000001")
    page.get_by_role("button", name="Send code").click()
    page.wait_for_selector("#code")
    shot(page, "signin-code-phone")
    code = whatsapp_outbox("+919800000001")[-1]["code"]
    page.fill("#code", code)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r".*/$"))
    assert page.get_by_role("heading", name="My files").is_visible()


# --- upload ----------------------------------------------------------------------------

def test_20_mib_upload_cut_and_resumed_keeps_every_byte(new_page, user, tmp_path, shot):
    source = tmp_path / "big.bin"
    source.write_bytes(os.urandom(20 * MiB))
    expected = hashlib.sha256(source.read_bytes()).hexdigest()
    page = new_page()
    sign_in(page, user)

    # First attempt: the first 8 MiB chunk goes through, then the connection drops.
    cut = []

    def drop_after_first_chunk(route):
        if route.request.method == "PATCH" and int(route.request.headers.get("upload-offset", "0")) > 0:
            cut.append(route.request.headers["upload-offset"])
            route.abort("connectionreset")
        else:
            route.continue_()

    page.route("**/api/tus/**", drop_after_first_chunk)
    page.set_input_files("#pick-files", str(source))
    page.wait_for_function("() => document.querySelector('#uploads progress')?.value > 0")
    deadline = 200
    while not cut and deadline:
        page.wait_for_timeout(100)
        deadline -= 1
    assert cut, "the upload was never cut"
    shot(page, "upload-cut")
    # The page is gone: only the browser's stored upload URL is left. The connection stays
    # cut until then, so no retry of the first page is still arriving when the second starts.
    page.reload()
    page.unroute("**/api/tus/**")

    # Second attempt: the same file picked again resumes where the server stopped.
    offsets = []
    page.on("request", lambda r: offsets.append(int(r.headers.get("upload-offset", "-1")))
            if r.method == "PATCH" and "/api/tus/" in r.url else None)
    posts = []
    page.on("request", lambda r: posts.append(r.url) if r.method == "POST" and "/api/tus/" in r.url else None)
    with page.expect_navigation(timeout=120_000):  # the page reloads when every upload is done
        page.set_input_files("#pick-files", str(source))
    assert not posts, "a new upload was started instead of resuming"
    assert offsets and offsets[0] == 8 * MiB, offsets  # from where the cut left it
    node = Node.objects.get(owner=user, name="big.bin", trashed_at__isnull=True)
    assert node.size == 20 * MiB and node.sha256 == expected
    body = page.request.get(f"/files/{node.uuid}/content?download=1").body()
    assert hashlib.sha256(body).hexdigest() == expected
    assert row(page, "big.bin").is_visible()
    user.refresh_from_db()
    assert user.storage_reserved == 0


def test_a_dropped_connection_resumes_by_itself(new_page, user, tmp_path):
    source = tmp_path / "flaky.bin"
    source.write_bytes(os.urandom(20 * MiB))
    expected = hashlib.sha256(source.read_bytes()).hexdigest()
    page = new_page()
    sign_in(page, user)
    drops = []

    def drop_once(route):
        if route.request.method == "PATCH" and route.request.headers.get("upload-offset") != "0" and not drops:
            drops.append(route.request.headers["upload-offset"])
            route.abort("connectionreset")
        else:
            route.continue_()

    page.route("**/api/tus/**", drop_once)
    with page.expect_navigation(timeout=120_000):  # done: the page shows the new file
        page.set_input_files("#pick-files", str(source))
    assert drops == [str(8 * MiB)]
    node = Node.objects.get(owner=user, name="flaky.bin")
    assert node.sha256 == expected and node.size == 20 * MiB
    body = page.request.get(f"/files/{node.uuid}/content?download=1").body()
    assert hashlib.sha256(body).hexdigest() == expected


def test_over_quota_is_explained_and_nothing_is_kept(new_page, user, tmp_path):
    user.storage_quota = 10_000
    user.save(update_fields=["storage_quota"])
    source = tmp_path / "too-big.bin"
    source.write_bytes(os.urandom(50_000))
    page = new_page()
    sign_in(page, user)
    page.set_input_files("#pick-files", str(source))
    error = page.locator("#uploads .error")
    error.wait_for()
    assert error.inner_text().startswith("Not enough storage left for this file (48.8 KB)")
    assert not Node.objects.filter(owner=user, name="too-big.bin").exists()
    user.refresh_from_db()
    assert user.storage_reserved == 0 and user.storage_used == 0


def test_cancel_releases_the_upload(new_page, user, tmp_path):
    source = tmp_path / "cancel-me.bin"
    source.write_bytes(os.urandom(12 * MiB))
    page = new_page()
    sign_in(page, user)
    # Every chunk after the first fails, so the upload is still going when Cancel is pressed.
    page.route("**/api/tus/**", lambda route: route.abort("connectionreset")
               if route.request.method == "PATCH" and route.request.headers.get("upload-offset") != "0"
               else route.continue_())
    page.set_input_files("#pick-files", str(source))
    page.wait_for_function("() => document.querySelector('#uploads progress')?.value > 0")
    user.refresh_from_db()
    assert user.storage_reserved == 12 * MiB  # held for the whole file from the start
    with page.expect_response(lambda r: r.request.method == "DELETE" and "/api/tus/" in r.url) as terminate:
        page.get_by_role("button", name="Cancel upload of cancel-me.bin").click()
    assert terminate.value.status == 204  # a tus termination
    page.get_by_text("Cancelled", exact=True).wait_for()
    user.refresh_from_db()
    assert user.storage_reserved == 0
    assert not Node.objects.filter(owner=user, name="cancel-me.bin").exists()


def test_folder_upload_keeps_its_tree(new_page, user, tmp_path):
    top = tmp_path / "trip"
    (top / "day1").mkdir(parents=True)
    (top / "day2" / "evening").mkdir(parents=True)
    (top / "notes.txt").write_text("packing list")
    (top / "day1" / "a.txt").write_text("first day")
    (top / "day2" / "evening" / "b.txt").write_text("second evening")
    page = new_page()
    sign_in(page, user)
    with page.expect_navigation(timeout=60_000):
        page.set_input_files("#pick-folder", str(top))
    trip = Node.objects.get(owner=user, name="trip", kind="folder")
    day1 = Node.objects.get(parent=trip, name="day1")
    evening = Node.objects.get(parent__parent=trip, parent__name="day2", name="evening")
    assert Node.objects.get(parent=trip, name="notes.txt").size == len("packing list")
    assert Node.objects.get(parent=day1, name="a.txt").size == len("first day")
    assert Node.objects.get(parent=evening, name="b.txt").size == len("second evening")
    page.get_by_role("link", name="trip", exact=True).click()
    page.get_by_role("link", name="day2", exact=True).click()
    assert page.get_by_role("navigation", name="Breadcrumbs").inner_text().split() == ["My", "files", "trip", "day2"]


# --- file actions ------------------------------------------------------------------------

def test_rename_move_trash_restore(new_page, user, shot):
    put(user, "draft.txt", b"words")
    tree.folder_create(user=user, parent=tree.home_get(user=user), name="Archive")
    page = new_page()
    sign_in(page, user)
    page.get_by_role("link", name="draft.txt").click()
    page.fill("#rename", "final.txt")
    page.get_by_role("button", name="Rename", exact=True).click()
    assert page.get_by_role("heading", name="final.txt").is_visible()
    page.select_option("#move-target", label="Archive")
    page.get_by_role("button", name="Move", exact=True).click()
    page.get_by_text("Moved.").wait_for()
    shot(page, "file-desktop")
    assert "Archive" in page.get_by_role("navigation", name="Breadcrumbs").inner_text()
    page.get_by_role("button", name="Delete", exact=True).click()
    page.wait_for_url(re.compile(r".*/folders/.*"))
    assert row(page, "final.txt").count() == 0
    page.get_by_role("link", name="Trash").click()
    shot(page, "trash-desktop")
    page.get_by_role("button", name="Restore final.txt").click()
    page.get_by_text("Restored.").wait_for()
    page.goto("/")
    page.get_by_role("link", name="Archive", exact=True).click()
    assert row(page, "final.txt").is_visible()


def _png(color) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (800, 600), color).save(out, "PNG")
    return out.getvalue()


def test_drive_on_desktop_and_phone_screens(new_page, user, shot):
    home = tree.home_get(user=user)
    for name in ("Documents", "Photos"):
        tree.folder_create(user=user, parent=home, name=name)
    put(user, "sunset.png", _png((230, 120, 40)))
    put(user, "lake.png", _png((40, 110, 200)))
    for n in range(3):
        put(user, f"notes-{n}.txt", b"x" * (n + 1) * 1000)
    desktop = new_page(DESKTOP)
    sign_in(desktop, user)
    desktop.wait_for_function("() => [...document.querySelectorAll('img.thumb')].every(i => i.complete && i.naturalWidth)")
    assert desktop.locator("img.thumb").count() == 2  # the preview service's thumbnails
    shot(desktop, "drive-desktop")
    dark = new_page(DESKTOP, color_scheme="dark")
    sign_in(dark, user)
    assert dark.evaluate("() => getComputedStyle(document.body).backgroundColor") == "rgb(17, 20, 24)"
    shot(dark, "drive-desktop-dark")
    page = new_page(PHONE)
    sign_in(page, user)
    shot(page, "drive-phone")
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the page scrolls sideways on a phone ({width} px)"
    page.keyboard.press("Tab")  # the skip link comes first and shows itself
    assert page.evaluate("() => document.activeElement.textContent") == "Skip to content"
    for _ in range(30):  # the file picker is reachable by keyboard, with a visible focus
        page.keyboard.press("Tab")
        if page.evaluate("() => document.activeElement.id") == "pick-files":
            break
    assert page.evaluate("() => getComputedStyle(document.querySelector('label[for=pick-files]')).outlineStyle") \
        == "solid"
    with page.expect_file_chooser() as chooser:
        page.keyboard.press("Space")
    assert chooser.value.is_multiple()


# Roles a person operates; the browser's own accessibility tree must give each a name.
CONTROL_ROLES = {"button", "link", "textbox", "searchbox", "combobox", "listbox", "checkbox", "radio",
                 "spinbutton", "slider", "switch", "menuitem", "tab"}


def unnamed_controls(page) -> list[str]:
    """Controls without an accessible name, as chromium computes names for screen readers."""
    cdp = page.context.new_cdp_session(page)
    try:
        nodes = cdp.send("Accessibility.getFullAXTree")["nodes"]
    finally:
        cdp.detach()
    return [f"{node['role']['value']} (backend node {node.get('backendDOMNodeId')})" for node in nodes
            if not node.get("ignored") and node.get("role", {}).get("value") in CONTROL_ROLES
            and not (node.get("name", {}).get("value") or "").strip()]


def test_every_page_fits_a_phone_and_names_its_controls(new_page, user, shot):
    home = tree.home_get(user=user)
    tree.folder_create(user=user, parent=home, name="A folder with a rather long name for a small screen")
    image = put(user, "sunset-over-the-harbour-at-the-end-of-a-long-summer-day.png", _png((230, 120, 40)))
    pdf = put(user, "handbook.pdf", _pdf(["One", "Two"]))
    put(user, "notes.txt", b"notes")
    tree.node_trash(node=put(user, "old draft.txt", b"old"))
    tree.star_set(user=user, node=image, starred=True)
    open_link = shares.share_create(user=user, node=image)
    locked_link = shares.share_create(user=user, node=pdf, password="a long passphrase")
    page = new_page(PHONE)
    pages = {"signin": "/signin"}
    sign_in(page, user)
    pages.update({"drive": "/", "file-image": f"/files/{image.uuid}", "file-pdf": f"/files/{pdf.uuid}",
                  "trash": "/trash", "search": "/search?q=notes", "starred": "/starred", "recent": "/recent",
                  "share": f"/s/{open_link.token}", "share-password": f"/s/{locked_link.token}",
                  "not-found": "/files/no-such-file"})
    problems = []
    for name, path in pages.items():
        if name == "signin":
            page.goto(path)  # signed in: it sends the person on to the drive
            visitor = new_page(PHONE)
            visitor.goto(path)
            target = visitor
        else:
            page.goto(path)
            target = page
        if name == "file-pdf":
            target.locator("section[data-page='1'][data-drawn]").wait_for()
        width = target.evaluate("() => document.documentElement.scrollWidth")
        if width > PHONE["width"]:
            problems.append(f"{path} scrolls sideways on a 360-px screen ({width} px)")
        problems += [f"{path}: {control} has no accessible name" for control in unnamed_controls(target)]
        shot(target, f"a11y-{name}-phone")
    assert not problems, problems


def test_image_viewer_shows_the_picture(new_page, user):
    node = put(user, "sunset.png", _png((230, 120, 40)))
    page = new_page()
    sign_in(page, user, next_path=f"/files/{node.uuid}")
    viewer = page.get_by_role("img", name="sunset.png")
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=viewer.element_handle())
    assert viewer.evaluate("img => img.naturalWidth") == 800


def _pdf(texts: list[str]) -> bytes:
    """A PDF with one page per text, each written in Helvetica."""
    count = len(texts)
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>",
               f"<< /Type /Pages /Kids [{' '.join(f'{4 + 2 * n} 0 R' for n in range(count))}] /Count {count} >>".encode(),
               b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    for n, text in enumerate(texts):
        stream = f"BT /F1 28 Tf 40 700 Td ({text}) Tj ET".encode()
        objects.append(f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 R >> >>"
                       f" /Contents {5 + 2 * n} 0 R >>".encode())
        objects.append(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
    out, offsets = io.BytesIO(b"%PDF-1.4\n"), []
    out.seek(0, io.SEEK_END)
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    out.write(b"".join(b"%010d 00000 n \n" % offset for offset in offsets))
    out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref))
    return out.getvalue()


def test_a_pdf_is_shown_page_by_page(new_page, user, shot):
    node = put(user, "handbook.pdf", _pdf(["Page one: welcome", "Page two: the rules", "Page three: the end"]))
    page = new_page()
    sign_in(page, user, next_path=f"/files/{node.uuid}")
    page.locator("#pdf-status", has_text="3 pages").wait_for()
    third = page.get_by_role("region", name="Page 3 of 3")
    third.scroll_into_view_if_needed()
    page.locator("section[data-page='3'][data-drawn]").wait_for()
    assert "Page three: the end" in third.text_content()  # the page's own text, for screen readers
    dark_pixels = third.locator("canvas").evaluate(
        "c => { const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; let n = 0;"
        " for (let i = 0; i < d.length; i += 4) if (d[i] < 100 && d[i + 3] > 0) n++; return n; }")
    assert dark_pixels > 500, "page 3 was not drawn"
    assert any(worker.url.endswith("/pdf.worker.min.mjs") for worker in page.workers)  # parsed off the page
    shot(page, "pdf-desktop")


# --- sharing ---------------------------------------------------------------------------

def test_password_share_in_a_fresh_context(new_page, user, shot):
    data = os.urandom(300_000)
    put(user, "contract.pdf", data)
    page = new_page()
    sign_in(page, user)
    page.get_by_role("link", name="contract.pdf").click()
    page.fill("#share-password", "s3cret words")
    page.fill("#max-downloads", "5")
    page.get_by_role("button", name="Create link").click()
    page.get_by_text("Link created.").wait_for()
    url = page.locator("input.share-url").first.input_value()
    page.wait_for_function("() => document.querySelector('img.qr').complete"
                           " && document.querySelector('img.qr').naturalWidth > 0")  # the QR code is an image
    shot(page, "share-dialog-desktop")

    visitor = new_page()  # no cookies: someone the link was sent to
    visitor.goto(url)
    assert visitor.locator("#download").count() == 0
    shot(visitor, "share-password-desktop")
    visitor.fill("#password", "wrong guess")
    visitor.get_by_role("button", name="Open").click()
    assert visitor.get_by_role("alert").inner_text() == "Wrong password."
    assert visitor.locator("#download").count() == 0
    visitor.fill("#password", "s3cret words")
    visitor.get_by_role("button", name="Open").click()
    visitor.locator("#download").wait_for()
    shot(visitor, "share-page-desktop")
    with visitor.expect_download() as download:
        visitor.click("#download")
    assert open(download.value.path(), "rb").read() == data
    assert ShareLink.objects.get(node__name="contract.pdf").download_count == 1
    for private in (user.username, user.email):
        assert private not in visitor.content()


def test_expired_share_page(new_page, user, shot):
    link = shares.share_create(user=user, node=put(user, "old.txt", b"old"), expires_in=3600)
    ShareLink.objects.filter(pk=link.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    page = new_page(PHONE)
    response = page.goto(f"/s/{link.token}")
    assert response.status == 410
    assert page.get_by_role("heading", name="This link has expired").is_visible()
    assert "old.txt" not in page.content()
    shot(page, "share-expired-phone")


# --- safety ------------------------------------------------------------------------------

def test_second_user_never_sees_the_first_users_files(new_page, user, other_user):
    mine = put(user, "diary.txt", b"dear diary")
    page = new_page()
    sign_in(page, other_user)
    assert page.get_by_text("diary.txt").count() == 0
    page.goto("/search?q=diary")
    assert page.get_by_text("diary.txt").count() == 0
    response = page.goto(f"/files/{mine.uuid}")
    assert response.status == 404
    assert page.request.get(f"/files/{mine.uuid}/content").status == 404


def test_a_hostile_name_renders_as_text(new_page, user):
    name = "<img src=x onerror=alert(1)>.txt"
    node = put(user, name, b"harmless")
    page = new_page()  # fails on any dialog or script error
    sign_in(page, user)
    assert row(page, name).is_visible()
    assert page.locator("img[src=x]").count() == 0
    page.get_by_role("link", name=name).click()
    assert page.get_by_role("heading", name=name).inner_text() == name
    link = shares.share_create(user=user, node=node)
    page.goto(f"/s/{link.token}")
    assert page.get_by_role("heading", name=name).inner_text() == name
    assert page.locator("img[src=x]").count() == 0
