"""The preview API over real sample files: uploads queue previews (eagerly here),
clients fetch the images and their metadata."""

import pytest
from PIL import Image

from previews import testing as samples
from previews.models import Preview

from .helpers import info, preview, preview_image, upload

pytestmark = pytest.mark.django_db


def _colour(image: Image.Image, xy) -> tuple:
    return image.convert("RGB").getpixel(xy)


def _near(colour, target, tolerance=60) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(colour, target, strict=True))


def test_jpeg_is_turned_upright_and_stripped_of_metadata(auth_client):
    file = upload(auth_client, "IMG_0001.jpg", samples.jpeg_rotated(width=640, height=320), content_type="image/jpeg")
    data = info(auth_client, file["id"])
    assert data["status"] == "ready" and data["mediaKind"] == "image"
    assert data["media"]["width"] == 640 and data["media"]["height"] == 320 and data["media"]["format"] == "JPEG"
    thumb = data["previews"]["thumbnail"]
    # EXIF orientation 6: the stored 640×320 landscape is shown as a 320×640 portrait.
    assert (thumb["width"], thumb["height"]) == (128, 256)
    assert (data["previews"]["medium"]["width"], data["previews"]["medium"]["height"]) == (320, 640)  # never enlarged
    assert thumb["url"] == f"/api/files/{file['id']}/preview/thumbnail"

    image, body, resp = preview_image(auth_client, file["id"])
    assert resp["Content-Type"] == "image/webp" and image.format == "WEBP"
    assert resp["X-Content-Type-Options"] == "nosniff"
    assert resp["Cache-Control"].startswith("private")
    assert int(resp["Content-Length"]) == len(body) == thumb["bytes"]
    assert image.size == (128, 256)
    assert _near(_colour(image, (64, 10)), samples.RED)  # the red half (left when stored) is on top
    assert _near(_colour(image, (64, 245)), samples.BLUE)
    assert not image.getexif() and "exif" not in image.info and "icc_profile" not in image.info
    assert b"StratusCam" not in body


def test_conditional_get_answers_304(auth_client):
    file = upload(auth_client, "a.png", samples.png(), content_type="image/png")
    first = preview(auth_client, file["id"], "medium")
    assert first.status_code == 200
    etag = first["ETag"]
    again = preview(auth_client, file["id"], "medium", HTTP_IF_NONE_MATCH=etag)
    assert again.status_code == 304 and again["ETag"] == etag
    assert preview(auth_client, file["id"], "medium", HTTP_IF_NONE_MATCH='"other"').status_code == 200
    assert preview(auth_client, file["id"], "thumbnail")["ETag"] != etag


def test_png_keeps_transparency_and_sizes(auth_client):
    file = upload(auth_client, "logo.png", samples.png(width=1200, height=600), content_type="image/png")
    medium, _, _ = preview_image(auth_client, file["id"], "medium")
    thumb, _, _ = preview_image(auth_client, file["id"], "thumbnail")
    assert medium.size == (1024, 512) and thumb.size == (256, 128)
    assert medium.mode == "RGBA" and medium.getpixel((0, 0))[3] == 0  # the corner stays transparent
    assert _near(_colour(medium, (512, 256)), samples.GREEN)


def test_heic_photo(auth_client):
    file = upload(auth_client, "IMG_0002.HEIC", samples.heic(width=400, height=300), content_type="image/heic")
    data = info(auth_client, file["id"])
    assert data["status"] == "ready", data
    assert data["media"]["format"] == "HEIF"
    image, _, _ = preview_image(auth_client, file["id"])
    assert image.size == (256, 192)
    assert _near(_colour(image, (128, 96)), samples.RED)


def test_video_poster_skips_the_black_start(auth_client):
    data = samples.video(seconds=4, fps=10, width=320, height=240, black_seconds=1.5)
    file = upload(auth_client, "clip.mp4", data, content_type="video/mp4")
    details = info(auth_client, file["id"])
    assert details["status"] == "ready" and details["mediaKind"] == "video"
    media = details["media"]
    assert media["codec"] == "h264" and (media["width"], media["height"]) == (320, 240)
    assert media["duration"] == pytest.approx(4.0, abs=0.2)
    assert media["posterAt"] >= 1.5  # not one of the black frames
    image, _, _ = preview_image(auth_client, file["id"])
    assert image.size == (256, 192)
    assert _near(_colour(image, (5, 5)), samples.GREEN)


def test_video_that_never_decodes_fails_with_a_reason(auth_client):
    data = bytearray(samples.video(seconds=2, fps=10, black_seconds=0))
    # Keep the container's header and index, destroy every coded frame.
    start = data.index(b"mdat") + 4
    data[start:start + 2000] = b"\x00" * len(data[start:start + 2000])
    file = upload(auth_client, "broken.mp4", bytes(data), content_type="video/mp4")
    details = info(auth_client, file["id"])
    assert details["status"] == "failed", details
    assert details["error"]
    resp = preview(auth_client, file["id"])
    assert resp.status_code == 422 and resp.json()["error"]["code"] == "PREVIEW_FAILED"


def test_audio_cover_art_and_duration(auth_client):
    file = upload(auth_client, "song.mp3", samples.mp3_with_cover(seconds=1.0), content_type="audio/mpeg")
    details = info(auth_client, file["id"])
    assert details["status"] == "ready" and details["mediaKind"] == "audio"
    assert details["media"]["duration"] == pytest.approx(1.0, abs=0.15)
    image, _, _ = preview_image(auth_client, file["id"])
    assert image.size == (256, 256)
    assert _near(_colour(image, (128, 128)), samples.BLUE)


def test_audio_without_cover_is_unsupported_but_has_its_duration(auth_client):
    from mutagen.id3 import ID3

    import io

    data = io.BytesIO(samples.mp3_with_cover(seconds=1.0))
    ID3(data).delete(data)
    file = upload(auth_client, "plain.mp3", data.getvalue(), content_type="audio/mpeg")
    details = info(auth_client, file["id"])
    assert details["status"] == "unsupported" and "cover" in details["error"]
    assert details["media"]["duration"] == pytest.approx(1.0, abs=0.15)
    assert preview(auth_client, file["id"]).status_code == 404


def test_pdf_first_page(auth_client):
    file = upload(auth_client, "doc.pdf", samples.pdf(width=200, height=300), content_type="application/pdf")
    details = info(auth_client, file["id"])
    assert details["status"] == "ready" and details["mediaKind"] == "document"
    assert details["media"]["pages"] == 1
    medium, _, _ = preview_image(auth_client, file["id"], "medium")
    assert medium.size == (683, 1024)
    assert _near(_colour(medium, (340, 100)), (255, 0, 0))  # the red upper half
    assert _near(_colour(medium, (340, 900)), (255, 255, 255))


def test_corrupt_image_fails_with_a_reason(auth_client):
    file = upload(auth_client, "cut.jpg", samples.corrupt_jpeg(), content_type="image/jpeg")
    details = info(auth_client, file["id"])
    assert details["status"] == "failed"
    assert "truncated" in details["error"] or "corrupt" in details["error"]
    assert details["previews"]["thumbnail"]["attempts"] == 1
    resp = preview(auth_client, file["id"], "medium")
    assert resp.status_code == 422
    assert resp.json()["error"]["code"] == "PREVIEW_FAILED"
    assert resp.json()["error"]["details"]["reason"] == details["error"]


def test_pixel_bomb_fails_without_decoding(auth_client):
    file = upload(auth_client, "bomb.png", samples.pixel_bomb_png(), content_type="image/png")
    details = info(auth_client, file["id"])
    assert details["status"] == "failed"
    assert "decompression bomb" in details["error"]
    # The worker goes on: the next file is previewed.
    other = upload(auth_client, "fine.png", samples.png(), content_type="image/png")
    assert info(auth_client, other["id"])["status"] == "ready"


def test_image_just_over_the_pixel_limit_fails_too(auth_client):
    """Pillow itself only warns between MAX_IMAGE_PIXELS and twice that."""
    from PIL import Image

    height = Image.MAX_IMAGE_PIXELS // 10_000 + 1
    file = upload(auth_client, "big.png", samples.pixel_bomb_png(width=10_000, height=height), content_type="image/png")
    details = info(auth_client, file["id"])
    assert details["status"] == "failed"
    assert "decompression bomb" in details["error"]


def test_an_image_past_the_decoded_pixel_cap_fails_with_its_reason(auth_client):
    """9400 × 9400 (88 megapixels) is under Pillow's own limit, and decoded it would hold
    350 MB: the preview is refused before decoding (PREVIEW_MAX_PIXELS, 50 megapixels)."""
    file = upload(auth_client, "huge.png", samples.flat_png(width=9400, height=9400), content_type="image/png")
    details = info(auth_client, file["id"])
    assert details["status"] == "failed"
    assert details["error"] == ("The image is too large to preview: 9400 × 9400 pixels (88.4 megapixels) to decode, "
                                "over the limit of 50 megapixels.")
    resp = preview(auth_client, file["id"])
    assert resp.status_code == 422 and resp.json()["error"]["details"]["reason"] == details["error"]
    other = upload(auth_client, "fine.png", samples.png(), content_type="image/png")
    assert info(auth_client, other["id"])["status"] == "ready"


def test_the_pixel_cap_counts_what_is_decoded(auth_client, settings):
    """A JPEG decodes at reduced scale (a 12-megapixel photo at half scale, 3 megapixels, for
    a 1024 px medium), so it passes a cap its declared size is over; a PNG does not."""
    settings.PREVIEW_MAX_PIXELS = 4_000_000
    photo = upload(auth_client, "photo.jpg", samples.photo_jpeg(width=4000, height=3000), content_type="image/jpeg")
    assert info(auth_client, photo["id"])["status"] == "ready"
    flat = upload(auth_client, "flat.png", samples.flat_png(width=2000, height=2500), content_type="image/png")
    details = info(auth_client, flat["id"])
    assert details["status"] == "failed" and "(5.0 megapixels) to decode, over the limit of 4 megapixels" in details["error"]


def test_svg_is_never_rendered(auth_client):
    file = upload(auth_client, "drawing.svg", samples.SVG, content_type="image/svg+xml")
    details = info(auth_client, file["id"])
    assert details["status"] == "unsupported"
    resp = preview(auth_client, file["id"])
    assert resp.status_code == 404 and resp.json()["error"]["code"] == "PREVIEW_UNSUPPORTED"
    # Even when forced past the declared type, the content is sniffed and refused.
    forced = auth_client.post(f"/api/files/{file['id']}/generate-preview", {"force": True}, format="json")
    assert forced.status_code == 202 and forced.json()["data"]["queued"] is True
    details = info(auth_client, file["id"])
    assert details["status"] == "unsupported" and "never rendered" in details["error"]
    assert preview(auth_client, file["id"], "medium").status_code == 404


def test_svg_named_like_a_photo_is_not_rendered(auth_client):
    file = upload(auth_client, "holiday.jpg", samples.SVG, content_type="image/jpeg")
    details = info(auth_client, file["id"])
    assert details["status"] == "unsupported" and "never rendered" in details["error"]


def test_text_file_is_unsupported_without_a_task(auth_client, monkeypatch):
    from previews import services

    queued = []
    monkeypatch.setattr(services, "preview_enqueue", lambda *, blob_id: queued.append(blob_id))
    file = upload(auth_client, "notes.txt", b"just words", content_type="text/plain")
    assert info(auth_client, file["id"])["status"] == "unsupported"
    assert queued == []


def test_photo_sent_as_octet_stream_is_sniffed(auth_client):
    file = upload(auth_client, "upload.bin", samples.png(), content_type="application/octet-stream")
    assert info(auth_client, file["id"])["status"] == "ready"


def test_opaque_upload_is_unsupported_without_a_task_and_a_sniffable_one_is_queued(auth_client, monkeypatch):
    """Content declared as octet-stream: its first bytes, seen by the upload, decide. Bytes
    of no known kind are unsupported at once (no task); a PNG's magic still queues one."""
    from previews import services

    queued = []
    monkeypatch.setattr(services, "preview_enqueue", lambda *, blob_id: queued.append(blob_id))
    opaque = upload(auth_client, "backup.bin", b"\x00\x01opaque bytes" * 100, content_type="application/octet-stream")
    assert info(auth_client, opaque["id"])["status"] == "unsupported"
    assert queued == []
    upload(auth_client, "photo.bin", samples.png(), content_type="application/octet-stream")
    assert len(queued) == 1


def test_pending_preview_answers_202(auth_client, monkeypatch, settings):
    from previews import services

    monkeypatch.setattr(services, "preview_enqueue", lambda *, blob_id: None)  # a worker that has not run yet
    file = upload(auth_client, "a.png", samples.png(), content_type="image/png")
    resp = preview(auth_client, file["id"])
    assert resp.status_code == 202 and resp["Retry-After"]
    assert resp.json() == {"success": True, "data": {"fileId": file["id"], "type": "thumbnail", "status": "pending",
                                                     "retryAfter": 2}}
    assert info(auth_client, file["id"])["previews"]["medium"]["status"] == "pending"
    generated = auth_client.post(f"/api/files/{file['id']}/generate-preview", {}, format="json")
    assert generated.status_code == 202 and generated.json()["data"]["outcome"] == "skipped"


def test_file_without_previews_gets_them_on_first_request(auth_client, settings):
    settings.PREVIEW_AUTO_GENERATE = False
    file = upload(auth_client, "a.png", samples.png(), content_type="image/png")
    assert info(auth_client, file["id"])["status"] == "none"
    assert preview(auth_client, file["id"]).status_code == 202  # queued (made after the answer, in process)
    image, _, _ = preview_image(auth_client, file["id"])
    assert image.size == (256, 171)


def test_unknown_preview_type_is_400(auth_client):
    file = upload(auth_client, "a.png", samples.png(), content_type="image/png")
    resp = preview(auth_client, file["id"], "huge")
    assert resp.status_code == 400 and resp.json()["error"]["code"] == "INVALID_PREVIEW_TYPE"


def test_generate_preview(auth_client, settings):
    settings.PREVIEW_AUTO_GENERATE = False
    file = upload(auth_client, "a.jpg", samples.jpeg_rotated(), content_type="image/jpeg")
    resp = auth_client.post(f"/api/files/{file['id']}/generate-preview", {}, format="json")
    assert resp.status_code == 202
    data = resp.json()["data"]
    assert data["queued"] is True and data["outcome"] == "queued" and data["status"] == "pending"
    assert data["previews"]["thumbnail"]["status"] == "pending"
    details = info(auth_client, file["id"])  # the task ran once the request committed
    assert details["status"] == "ready" and details["previews"]["thumbnail"]["attempts"] == 1
    again = auth_client.post(f"/api/files/{file['id']}/generate-preview", {}, format="json")
    assert again.status_code == 200
    assert again.json()["data"]["queued"] is False and again.json()["data"]["outcome"] == "skipped"
    forced = auth_client.post(f"/api/files/{file['id']}/generate-preview", {"force": True}, format="json")
    assert forced.status_code == 202 and forced.json()["data"]["queued"] is True
    assert info(auth_client, file["id"])["previews"]["thumbnail"]["attempts"] == 2
    bad = auth_client.post(f"/api/files/{file['id']}/generate-preview", {"force": "maybe"}, format="json")
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "VALIDATION_ERROR"


def test_failed_preview_is_tried_again_on_request(auth_client):
    file = upload(auth_client, "cut.jpg", samples.corrupt_jpeg(), content_type="image/jpeg")
    resp = auth_client.post(f"/api/files/{file['id']}/generate-preview", {}, format="json")
    assert resp.json()["data"]["queued"] is True
    details = info(auth_client, file["id"])
    assert details["status"] == "failed" and details["previews"]["thumbnail"]["attempts"] == 2


def test_identical_uploads_share_one_preview(auth_client, other_client):
    photo = samples.jpeg_rotated(width=300, height=200)
    first = upload(auth_client, "a.jpg", photo, content_type="image/jpeg")
    second = upload(auth_client, "copy.jpg", photo, content_type="image/jpeg")
    third = upload(other_client, "mine.jpg", photo, content_type="image/jpeg")
    assert Preview.objects.count() == 2  # thumbnail + medium, once for the content
    assert Preview.objects.get(preview_type="thumbnail").attempts == 1
    bodies = {preview_image(client, f["id"])[1] for client, f in
              [(auth_client, first), (auth_client, second), (other_client, third)]}
    assert len(bodies) == 1


def test_last_reference_deleted_takes_previews_along(auth_client, django_capture_on_commit_callbacks):
    from files.services.blobs import blobs_collect
    from storage_site.core import storage

    photo = samples.png()
    first = upload(auth_client, "a.png", photo, content_type="image/png")
    second = upload(auth_client, "b.png", photo, content_type="image/png")
    keys = list(Preview.objects.values_list("storage_key", flat=True))
    assert len(keys) == 2 and all(storage.exists(key) for key in keys)

    for file in (first, second):
        assert auth_client.delete(f"/api/files/{file['id']}/delete").status_code == 200
        assert auth_client.delete(f"/api/trash/{file['id']}").status_code in (200, 204)
        if file is first:  # one reference left: nothing goes yet
            assert blobs_collect() == 0
            assert Preview.objects.count() == 2
    with django_capture_on_commit_callbacks(execute=True):
        assert blobs_collect() == 1
    assert Preview.objects.count() == 0
    assert not any(storage.exists(key) for key in keys)


def test_another_users_files_are_404_everywhere(auth_client, other_client, monkeypatch):
    from previews import services

    file = upload(auth_client, "private.png", samples.png(), content_type="image/png")
    fid = file["id"]
    for resp in [other_client.get(f"/api/files/{fid}/preview-info"),
                 other_client.get(f"/api/files/{fid}/preview/thumbnail"),
                 other_client.get(f"/api/files/{fid}/preview/medium"),
                 other_client.post(f"/api/files/{fid}/generate-preview", {"force": True}, format="json")]:
        assert resp.status_code == 404 and resp.json()["error"]["code"] == "NOT_FOUND", resp.content
    queued = []
    monkeypatch.setattr(services, "preview_enqueue", lambda *, blob_id: queued.append(blob_id))
    batch = other_client.post("/api/files/batch-generate-previews", {"fileIds": [fid], "force": True}, format="json")
    assert batch.status_code == 200
    assert batch.json()["data"]["notFound"] == 1 and batch.json()["data"]["queued"] == 0
    assert queued == []
    assert Preview.objects.get(preview_type="thumbnail").attempts == 1  # nothing was made again


def test_anonymous_is_401(api_client, auth_client):
    file = upload(auth_client, "a.png", samples.png(), content_type="image/png")
    assert api_client.get(f"/api/files/{file['id']}/preview/thumbnail").status_code == 401
    assert api_client.post("/api/files/batch-generate-previews", {"fileIds": [file["id"]]},
                           format="json").status_code == 401


def test_batch_generate_counts(auth_client, monkeypatch, settings):
    settings.PREVIEW_AUTO_GENERATE = False
    ready = upload(auth_client, "ready.png", samples.png(), content_type="image/png")
    auth_client.post(f"/api/files/{ready['id']}/generate-preview", {}, format="json")
    photo = upload(auth_client, "new.jpg", samples.jpeg_rotated(), content_type="image/jpeg")
    same = upload(auth_client, "same.jpg", samples.jpeg_rotated(), content_type="image/jpeg")
    text = upload(auth_client, "t.txt", b"words", content_type="text/plain")
    trashed = upload(auth_client, "gone.png", samples.png(width=20, height=20), content_type="image/png")
    auth_client.delete(f"/api/files/{trashed['id']}/delete")
    ids = [ready["id"], photo["id"], same["id"], text["id"], trashed["id"], "not-a-uuid",
           "00000000-0000-0000-0000-000000000000", photo["id"].upper()]
    resp = auth_client.post("/api/files/batch-generate-previews", {"fileIds": ids}, format="json")
    assert resp.status_code == 200
    data = resp.json()["data"]
    outcomes = {item["fileId"]: item["outcome"] for item in data["results"]}
    assert outcomes == {ready["id"]: "skipped", photo["id"]: "queued", same["id"]: "skipped",
                        text["id"]: "unsupported", trashed["id"]: "notFound", "not-a-uuid": "notFound",
                        "00000000-0000-0000-0000-000000000000": "notFound", photo["id"].upper(): "skipped"}
    counts = (data["requested"], data["queued"], data["skipped"], data["unsupported"], data["notFound"])
    assert counts == (8, 1, 3, 1, 3)
    assert info(auth_client, photo["id"])["status"] == "ready"
    assert auth_client.post("/api/files/batch-generate-previews", {"fileIds": []},
                            format="json").status_code == 400
    too_many = {"fileIds": [ready["id"]] * 501}
    assert auth_client.post("/api/files/batch-generate-previews", too_many, format="json").status_code == 400
