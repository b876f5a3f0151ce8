"""`/index.php/avatar/{user}/{size}` (and `…/dark`): a generated PNG, the person's
initials on a colour of their own (from their user id), for the caller's own user id.
Stratus has no user directory and no shares between users, so no other user is
visible to anyone: any other id is 404, exactly as one that does not exist."""

import hashlib
import io

from django.http import HttpResponse, HttpResponseNotModified
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_safe

from dav import auth

from . import webdav

SIZES = (16, 1024)  # smallest and largest size drawn; others are clamped
DRAWING = 1  # bump when the drawing changes, so cached avatars are fetched again


def _initials(user) -> str:
    words = (user.full_name or user.username).split()
    return ("".join(word[0] for word in words[:2]) or "?").upper()


def _colour(user_id: str, *, dark: bool) -> tuple[int, int, int]:
    digest = hashlib.sha256(user_id.encode()).digest()
    shade = (digest[0] / 255, digest[1] / 255, digest[2] / 255)
    low, span = (40, 110) if dark else (70, 130)  # light text stays readable on either
    return tuple(int(low + span * part) for part in shade)


def avatar_png(user, *, size: int, dark: bool) -> bytes:
    from PIL import Image, ImageDraw, ImageFont  # loaded by the first avatar, not by every web worker

    image = Image.new("RGB", (size, size), _colour(user.username, dark=dark))
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=max(size * 0.42, 6))
    draw.text((size / 2, size / 2), _initials(user), fill=(255, 255, 255), font=font, anchor="mm")
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


@csrf_exempt
@require_safe
def avatar(request, user_id, size, dark=False):
    user, refusal = auth.authenticate(request)
    if refusal is not None:
        return refusal
    if user_id != user.username:
        return webdav.refusal(404, "No such user.")
    size = min(max(int(size), SIZES[0]), SIZES[1])
    etag = '"%s"' % hashlib.sha256(f"{DRAWING}\0{user.username}\0{_initials(user)}\0{size}\0{dark}".encode()
                                   ).hexdigest()[:32]
    if etag in [tag.strip().removeprefix("W/") for tag in request.headers.get("If-None-Match", "").split(",")]:
        response = HttpResponseNotModified()
    else:
        response = HttpResponse(avatar_png(user, size=size, dark=bool(dark)), content_type="image/png")
    response["ETag"] = etag
    response["Cache-Control"] = "private, max-age=86400"
    response["X-Content-Type-Options"] = "nosniff"
    return response
