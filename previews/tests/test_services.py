"""The task's guarantees: idempotent, claims its rows, survives bad input, storage
outages and lost workers; reading through ranged storage reads (the S3 path)."""

import io
import threading
import time
from datetime import timedelta

import pytest
from celery.exceptions import SoftTimeLimitExceeded
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from files.models import Blob
from previews import render, services, sources
from previews import testing as samples
from previews.models import Preview, PreviewStatus
from previews.tasks import preview_generate_task
from storage_site.core import storage
from storage_site.core.exceptions import StorageUnavailable

from .helpers import info, preview_image, upload

pytestmark = pytest.mark.django_db


@pytest.fixture
def held(monkeypatch):
    """Tasks are not run: the test runs `preview_generate` itself."""
    queued = []
    monkeypatch.setattr(services, "preview_enqueue", lambda *, blob_id: queued.append(blob_id))
    return queued


def test_a_second_run_does_nothing(auth_client, held):
    file = upload(auth_client, "a.png", samples.png(), content_type="image/png")
    blob_id = held[0]
    assert services.preview_generate(blob_id=blob_id) == PreviewStatus.READY
    before = {row.pk: (row.sha256, row.attempts) for row in Preview.objects.all()}
    assert services.preview_generate(blob_id=blob_id) == "skipped"
    assert {row.pk: (row.sha256, row.attempts) for row in Preview.objects.all()} == before
    assert info(auth_client, file["id"])["status"] == "ready"


def test_a_lost_worker_is_taken_over_after_the_time_limit(auth_client, held, settings):
    upload(auth_client, "a.png", samples.png(), content_type="image/png")
    blob_id = held[0]
    recent = timezone.now() - timedelta(seconds=10)
    Preview.objects.update(status=PreviewStatus.PROCESSING, started_at=recent)
    assert services.preview_generate(blob_id=blob_id) == "skipped"  # someone is on it
    Preview.objects.update(started_at=timezone.now() - timedelta(seconds=settings.PREVIEW_TASK_TIME_LIMIT + 120))
    assert services.preview_generate(blob_id=blob_id) == PreviewStatus.READY


def test_sweep_fails_stale_rows_and_requeues_forgotten_ones(auth_client, held, settings):
    upload(auth_client, "a.png", samples.png(), content_type="image/png")
    upload(auth_client, "b.png", samples.png(width=50, height=50), content_type="image/png")
    first, second = held
    old = timezone.now() - timedelta(seconds=settings.PREVIEW_TASK_TIME_LIMIT + settings.PREVIEW_REQUEUE_AFTER)
    Preview.objects.filter(blob_id=first).update(status=PreviewStatus.PROCESSING, started_at=old)
    Preview.objects.filter(blob_id=second).update(queued_at=old)
    half_made = Preview.objects.filter(blob_id=first).first().storage_key
    storage.put_bytes(half_made, b"an image the lost worker wrote before it stopped")
    held.clear()
    assert services.previews_sweep() == {"failed": 2, "requeued": 1}
    assert held == [second]
    row = Preview.objects.filter(blob_id=first).first()
    assert row.status == PreviewStatus.FAILED and "time limit" in row.error
    assert not storage.exists(half_made)  # never served, so not kept


def test_soft_time_limit_fails_the_preview(auth_client, held, monkeypatch, settings):
    file = upload(auth_client, "a.png", samples.png(), content_type="image/png")

    def slow(*args, **kwargs):
        raise SoftTimeLimitExceeded()

    monkeypatch.setattr(render, "render", slow)
    assert services.preview_generate(blob_id=held[0]) == PreviewStatus.FAILED
    details = info(auth_client, file["id"])
    assert details["status"] == "failed"
    assert details["error"] == f"Gave up after {settings.PREVIEW_TASK_SOFT_TIME_LIMIT} s."


def test_storage_outage_gives_the_rows_back_for_a_retry(auth_client, held, monkeypatch):
    file = upload(auth_client, "a.png", samples.png(), content_type="image/png")

    def down(*args, **kwargs):
        raise StorageUnavailable()

    monkeypatch.setattr(services, "source_open", down)
    with pytest.raises(StorageUnavailable):
        services.preview_generate(blob_id=held[0])
    assert set(Preview.objects.values_list("status", flat=True)) == {PreviewStatus.PENDING}
    monkeypatch.undo()
    assert services.preview_generate(blob_id=held[0]) == PreviewStatus.READY
    assert info(auth_client, file["id"])["previews"]["thumbnail"]["attempts"] == 2


def test_content_collected_while_rendering_leaves_no_image(auth_client, held, monkeypatch):
    upload(auth_client, "a.png", samples.png(), content_type="image/png")
    blob_id = held[0]
    keys = list(Preview.objects.values_list("storage_key", flat=True))
    real_render = render.render

    def render_then_lose_the_blob(*args, **kwargs):
        result = real_render(*args, **kwargs)
        Preview.objects.all().delete()  # what the blob's CASCADE does
        return result

    monkeypatch.setattr(render, "render", render_then_lose_the_blob)
    real_filter = Blob.objects.filter  # the blob is read with its rows; after the render it is gone
    monkeypatch.setattr(Blob.objects, "filter", lambda *args, **kwargs: real_filter(pk=-1))
    assert services.preview_generate(blob_id=blob_id) == "superseded"
    assert not any(storage.exists(key) for key in keys)


def test_ranged_reads_as_on_s3(auth_client, monkeypatch):
    """With no local path (S3), sources are read through ranged GETs."""
    calls = []
    real = storage.read_range

    def counted(key, start=0, end=None):
        calls.append((key, start, end))
        return real(key, start, end)

    monkeypatch.setattr(storage, "local_path", lambda key: None)
    monkeypatch.setattr(storage, "read_range", counted)
    photo = upload(auth_client, "a.jpg", samples.jpeg_rotated(width=800, height=400), content_type="image/jpeg")
    clip = upload(auth_client, "v.mp4", samples.video(seconds=2, black_seconds=0.5), content_type="video/mp4")
    doc = upload(auth_client, "d.pdf", samples.pdf(), content_type="application/pdf")
    song = upload(auth_client, "s.mp3", samples.mp3_with_cover(), content_type="audio/mpeg")
    for file in (photo, clip, doc, song):
        assert info(auth_client, file["id"])["status"] == "ready", file["name"]
    assert any(start > 0 for _, start, _ in calls)  # seeks became ranges
    image, _, _ = preview_image(auth_client, photo["id"], "medium")
    assert image.size == (400, 800)


def test_range_reader_behaves_like_a_file(auth_client, monkeypatch):
    data = bytes(range(256)) * 5000
    upload(auth_client, "blob.bin", data)
    blob = Blob.objects.get(size=len(data))
    gets = []
    real = storage.read_range
    monkeypatch.setattr(storage, "read_range",
                        lambda key, start, end: gets.append((start, end)) or real(key, start, end))

    reader = sources.RangeReader(blob.storage_key, blob.size)
    with io.BufferedReader(reader, buffer_size=4096) as buffered:
        assert buffered.read() == data
    assert gets == [(0, len(data) - 1)]  # read in order: one GET, not one per buffer refill

    gets.clear()
    monkeypatch.setattr(sources, "WINDOW", 100_000)
    buffered = io.BufferedReader(sources.RangeReader(blob.storage_key, blob.size), buffer_size=4096)
    assert buffered.read(10) == data[:10]
    assert buffered.seek(-5, io.SEEK_END) == len(data) - 5
    assert buffered.read() == data[-5:]
    assert buffered.read(3) == b""
    buffered.seek(300_000)
    assert buffered.read(250_000) == data[300_000:550_000]  # across windows
    assert buffered.tell() == 550_000
    assert buffered.read(5) == data[550_000:550_005]
    buffered.close()
    assert [start for start, _ in gets] == [0, len(data) - 5, 300_000, 400_000, 500_000]  # a seek is a new GET


@pytest.mark.parametrize("head,kind", [
    (b"\xff\xd8\xff\xe0", "image"), (b"\x89PNG\r\n\x1a\n", "image"), (b"GIF89a", "image"),
    (b"RIFF\x00\x00\x00\x00WEBPVP8 ", "image"), (b"\x00\x00\x00\x18ftypheic", "image"),
    (b"\x00\x00\x00\x18ftypisom", "video"), (b"\x00\x00\x00\x18ftypM4A ", "audio"),
    (b"\x1aE\xdf\xa3", "video"), (b"ID3\x04", "audio"), (b"fLaC", "audio"), (b"%PDF-1.7", "document"),
    (b"<svg xmlns=", None), (b"hello", None),
])
def test_sniff(head, kind):
    assert render.sniff(head + b"\x00" * 16) == kind


def test_storage_outage_while_writing_gives_the_rows_back(auth_client, held, monkeypatch):
    upload(auth_client, "a.png", samples.png(), content_type="image/png")

    def down(key, data):
        raise StorageUnavailable()

    monkeypatch.setattr(storage, "put_bytes", down)
    with pytest.raises(StorageUnavailable):
        services.preview_generate(blob_id=held[0])
    assert set(Preview.objects.values_list("status", flat=True)) == {PreviewStatus.PENDING}
    monkeypatch.undo()
    assert services.preview_generate(blob_id=held[0]) == PreviewStatus.READY


def test_missing_stored_file_fails_with_a_reason(auth_client, held):
    file = upload(auth_client, "a.png", samples.png(), content_type="image/png")
    blob = Blob.objects.get(pk=held[0])
    storage.delete(blob.storage_key)
    assert services.preview_generate(blob_id=blob.pk) == PreviewStatus.FAILED
    assert info(auth_client, file["id"])["error"] == "The stored file is missing."


@pytest.mark.django_db(transaction=True)
def test_soft_time_limit_in_a_thread_of_the_threads_pool(auth_client, held, monkeypatch, settings):
    """Celery enforces no time limit in its threads pool: the task does, by itself, and
    leaves the thread alone once it is done."""
    quick = upload(auth_client, "a.png", samples.png(), content_type="image/png")
    slow = upload(auth_client, "b.png", samples.png(width=50, height=50), content_type="image/png")
    settings.PREVIEW_TASK_SOFT_TIME_LIMIT = 0.3

    def in_a_thread(blob_id: int) -> dict:
        outcome = {}

        def run():
            outcome["status"] = preview_generate_task(blob_id)
            _spin(0.6)  # the thread goes on past the limit: nothing is raised in it any more
            outcome["after"] = "untouched"

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        thread.join(timeout=20)
        return outcome

    assert in_a_thread(held[0]) == {"status": PreviewStatus.READY, "after": "untouched"}
    monkeypatch.setattr(render, "render", lambda *args, **kwargs: _spin(3600))
    assert in_a_thread(held[1]) == {"status": PreviewStatus.FAILED, "after": "untouched"}
    assert info(auth_client, slow["id"])["error"] == "Gave up after 0.3 s."
    assert info(auth_client, quick["id"])["status"] == "ready"


def _spin(seconds: float) -> None:
    """Python between short C calls, as a decoder's loop is."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(0.01)


def test_a_photo_takes_four_statements(auth_client, held):
    """Claim; the rows with their blob; both rows marked ready in one transaction. The
    declared types are not read when the content is sniffed."""
    upload(auth_client, "a.jpg", samples.jpeg_rotated(), content_type="image/jpeg")
    with CaptureQueriesContext(connection) as captured:
        assert services.preview_generate(blob_id=held[0]) == PreviewStatus.READY
    statements = [q["sql"].split()[0] for q in captured.captured_queries if "SAVEPOINT" not in q["sql"]]
    assert statements == ["UPDATE", "SELECT", "UPDATE", "UPDATE"]
