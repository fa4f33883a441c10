"""Project files `say` sends: uploaded once per content and number, kept, uploaded again when stale or forgotten."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from bot.errors import MediaRefused
from bot.media.upload import PROJECT_FILE, STALE_AFTER, ProjectMedia, project_file_message
from bot.whatsapp.client import CloudAPIClient, RecordingTransport
from storage.repository import Repository
from tests.conftest import FakeClock
from tests.media.pictures import png

TO = "31612345678"


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "media").mkdir()
    (tmp_path / "media" / "label.png").write_bytes(png(seed=4))
    (tmp_path / "media" / "notes.txt").write_text("not a photo")
    return tmp_path


def uploader(repository: Repository, folder: Path, clock: FakeClock, transport: RecordingTransport) -> ProjectMedia:
    client = CloudAPIClient(
        transport=transport, base_url="https://graph.example", version="v25.0", phone_number_id="1065", access_token="t"
    )
    return ProjectMedia(repository, client, folder, phone_number_id="1065", clock=clock)


async def test_a_file_is_uploaded_once_then_sent_by_its_kept_id(
    repository: Repository, folder: Path, clock: FakeClock
) -> None:
    """The first send uploads (multipart to /media, with its type); the next uses the kept id; the key is gone."""
    transport = RecordingTransport()
    media = uploader(repository, folder, clock, transport)
    payload = project_file_message(TO, "image", "media/label.png", caption="Your label", filename=None)
    ready = await media.attach(payload)
    assert PROJECT_FILE not in ready
    assert ready["image"] == {"id": "media.upload.1", "caption": "Your label"}
    [upload] = transport.requests
    assert upload.url == "https://graph.example/v25.0/1065/media"
    assert (upload.json["type"], upload.json["file"], upload.json["messaging_product"]) == (
        "image/png",
        "label.png",
        "whatsapp",
    )
    assert (await media.attach(payload))["image"]["id"] == "media.upload.1"
    assert len(transport.requests) == 1


async def test_a_stale_or_forgotten_upload_is_done_again(
    repository: Repository, folder: Path, clock: FakeClock
) -> None:
    """After 29 days, or when asked for a fresh one (Meta forgot the id), the file goes up again."""
    transport = RecordingTransport()
    media = uploader(repository, folder, clock, transport)
    payload = project_file_message(TO, "image", "media/label.png", caption=None, filename=None)
    first = (await media.attach(payload))["image"]["id"]
    fresh = (await media.attach(payload, fresh=True))["image"]["id"]
    assert fresh != first
    assert (await media.attach(payload))["image"]["id"] == fresh
    clock.advance(seconds=STALE_AFTER.total_seconds() - 1)
    assert (await media.attach(payload))["image"]["id"] == fresh
    clock.advance(seconds=timedelta(seconds=1).total_seconds())
    assert (await media.attach(payload))["image"]["id"] not in (first, fresh)
    assert len(transport.requests) == 3


@pytest.mark.parametrize(
    ("kind", "file", "reason"),
    [
        ("image", "media/gone.png", "no file 'media/gone.png' in the flows folder"),
        ("image", "../outside.png", "no file '../outside.png' in the flows folder"),
        ("image", "media/notes.txt", "notes.txt: WhatsApp sends only .jpg, .png files as image"),
    ],
)
async def test_a_file_gone_outside_or_of_the_wrong_type_is_refused_unsent(
    repository: Repository, folder: Path, clock: FakeClock, kind: str, file: str, reason: str
) -> None:
    """Nothing is uploaded for a file that is not there, not in the folder, or not of a type Meta sends as `kind`."""
    (folder.parent / "outside.png").write_bytes(png())
    transport = RecordingTransport()
    with pytest.raises(MediaRefused) as refused:
        await uploader(repository, folder, clock, transport).attach(
            project_file_message(TO, kind, file, caption=None, filename=None)
        )
    assert refused.value.message == reason
    assert transport.requests == []


def test_a_documents_name_defaults_to_the_files_own() -> None:
    """A document from the project shows its file name unless the flow names it otherwise."""
    assert (
        project_file_message(TO, "document", "media/terms.pdf", caption=None, filename=None)["document"]["filename"]
        == "terms.pdf"
    )
    assert (
        project_file_message(TO, "document", "media/terms.pdf", caption=None, filename="t.pdf")["document"]["filename"]
        == "t.pdf"
    )
