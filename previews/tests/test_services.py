"""The task's guarantees: idempotent, claims its rows, survives bad input, storage
outages and lost workers; reading through ranged storage reads (the S3 path)."""

import io
from datetime import timedelta

import pytest
from celery.exceptions import SoftTimeLimitExceeded
from django.utils import timezone

from files.models import Blob
from previews import render, services, sources
from previews import testing as samples
from previews.models import Preview, PreviewStatus
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
    held.clear()
    assert services.previews_sweep() == {"failed": 2, "requeued": 1}
    assert held == [second]
    row = Preview.objects.filter(blob_id=first).first()
    assert row.status == PreviewStatus.FAILED and "time limit" in row.error


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
    monkeypatch.setattr(Blob.objects, "filter", _blob_gone_after_first(Blob.objects.filter))
    assert services.preview_generate(blob_id=blob_id) == "superseded"
    assert not any(storage.exists(key) for key in keys)


def _blob_gone_after_first(real_filter):
    calls = {"n": 0}

    def fake(*args, **kwargs):
        calls["n"] += 1
        return real_filter(*args, **kwargs) if calls["n"] == 1 else real_filter(pk=-1)

    return fake


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


def test_range_reader_behaves_like_a_file(auth_client):
    data = bytes(range(256)) * 5000
    upload(auth_client, "blob.bin", data)
    blob = Blob.objects.get(size=len(data))
    reader = sources.RangeReader(blob.storage_key, blob.size)
    buffered = io.BufferedReader(reader, buffer_size=4096)
    assert buffered.read(10) == data[:10]
    assert buffered.seek(-5, io.SEEK_END) == len(data) - 5
    assert buffered.read() == data[-5:]
    assert buffered.read(3) == b""
    buffered.seek(300_000)
    assert buffered.read(70_000) == data[300_000:370_000]
    assert buffered.tell() == 370_000


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
