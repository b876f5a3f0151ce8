import pytest

from .helpers import pushes


@pytest.fixture(autouse=True)
def _push_to_file(settings, tmp_path):
    settings.PUSH_BACKEND = "file"
    settings.PUSH_FILE_PATH = str(tmp_path / "push.jsonl")


@pytest.fixture
def outbox(settings):
    """The pushes a phone would have received, oldest first."""
    return lambda: pushes(settings.PUSH_FILE_PATH)
