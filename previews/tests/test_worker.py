"""Previews made by a real Celery worker process (Redis broker, PostgreSQL, S3):
the upload answers at once, the client polls, the worker reads the file through
ranged S3 reads and survives a bad file."""

import time

import pytest

from previews import testing as samples

from .helpers import info, preview_image, upload


def _wait(client, file_id: str, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while (details := info(client, file_id))["status"] in ("pending", "processing", "none"):
        assert time.monotonic() < deadline, f"the worker never made the preview: {details}"
        time.sleep(0.2)
    return details


@pytest.mark.celery_worker
def test_previews_are_made_by_a_real_worker(celery_worker, auth_client, other_client, settings):
    if settings.STORAGE_BACKEND != "s3":
        pytest.skip("the worker process shares storage with the tests only through S3")
    bomb = upload(auth_client, "bomb.png", samples.pixel_bomb_png(), content_type="image/png")
    photo = upload(auth_client, "IMG.jpg", samples.jpeg_rotated(width=640, height=320), content_type="image/jpeg")
    clip = upload(auth_client, "clip.mp4", samples.video(seconds=3, black_seconds=1), content_type="video/mp4")

    failed = _wait(auth_client, bomb["id"])
    assert failed["status"] == "failed" and "decompression bomb" in failed["error"]
    assert _wait(auth_client, photo["id"])["status"] == "ready"  # the worker went on
    image, _, resp = preview_image(auth_client, photo["id"])
    assert image.size == (128, 256) and resp["Content-Type"] == "image/webp"
    video = _wait(auth_client, clip["id"])
    assert video["status"] == "ready" and video["media"]["posterAt"] >= 1.0

    resp = auth_client.post(f"/api/files/{photo['id']}/generate-preview", {"force": True}, format="json")
    assert resp.status_code == 202  # queued on the broker, not made in the request
    assert _wait(auth_client, photo["id"])["previews"]["thumbnail"]["attempts"] == 2
    assert other_client.get(f"/api/files/{photo['id']}/preview/thumbnail").status_code == 404


@pytest.mark.celery_worker
def test_a_worker_with_the_threads_pool(celery_worker_factory, auth_client, settings):
    """The previews worker of the stack runs its tasks in threads (deploy/previews.sh):
    database connections, S3 clients and PDFium from a thread that is not the main one,
    and the task's own time limits armed there."""
    if settings.STORAGE_BACKEND != "s3":
        pytest.skip("the worker process shares storage with the tests only through S3")
    celery_worker_factory(name="threads", pool="threads")
    photo = samples.jpeg_rotated(width=640, height=320)
    files = {
        "ready": [upload(auth_client, "IMG.jpg", photo, content_type="image/jpeg"),
                  upload(auth_client, "doc.pdf", samples.pdf(), content_type="application/pdf"),
                  upload(auth_client, "clip.mp4", samples.video(seconds=2, black_seconds=0.5),
                         content_type="video/mp4"),
                  upload(auth_client, "song.mp3", samples.mp3_with_cover(), content_type="audio/mpeg")],
        "failed": [upload(auth_client, "cut.jpg", samples.corrupt_jpeg(), content_type="image/jpeg")],
    }
    for status, uploaded in files.items():
        for file in uploaded:
            assert _wait(auth_client, file["id"])["status"] == status, file["name"]
    image, _, _ = preview_image(auth_client, files["ready"][0]["id"], "medium")
    assert image.size == (320, 640)
