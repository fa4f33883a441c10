"""Files of the project that `say` steps send: uploaded to Meta once, their media id kept, uploaded again when stale.

The engine's turn only names the file (the outbox payload's `project_file`, relative to the flows folder);
the sender calls `ProjectMedia.attach` just before the send, outside any transaction: the file is read,
checked against Meta's type and size limits, and its SHA-256 looked up among the uploads kept in the
database. An upload older than `STALE_AFTER` is done again, since Meta keeps a file 30 days; when Meta
answers that it does not know the id (error 131053), the sender asks for a fresh upload and sends once more.
https://developers.facebook.com/documentation/business-messaging/whatsapp/business-phone-numbers/media
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import structlog

from bot.errors import CloudAPIError, MediaRefused
from bot.whatsapp.client import CloudAPIClient
from bot.whatsapp.media import check_media_file
from bot.whatsapp.message_body import media_message
from storage import uploads
from storage.repository import Repository

log = structlog.get_logger("bot.media.upload")
PROJECT_FILE = "project_file"  # the outbox payload's key naming a file of the flows folder to upload first
STALE_AFTER = timedelta(days=29)  # Meta: "Media IDs returned by the API expire after 30 days"
MEDIA_UNKNOWN = 131053  # Meta's "Media upload error": the id is unknown, expired or the file unusable


def project_file_message(to: str, kind: str, file: str, *, caption: str | None, filename: str | None) -> dict[str, Any]:
    """The outbox payload of a file to send from the flows folder: a media message whose id the sender fills in."""
    if kind == "document":
        filename = filename or Path(file).name
    body = media_message(to, kind, media_id="", caption=caption, filename=filename)
    body[PROJECT_FILE] = file
    return body


def media_forgotten(exc: CloudAPIError) -> bool:
    """Whether Meta refused a send because it no longer knows (or cannot use) the uploaded file."""
    return exc.error_code == MEDIA_UNKNOWN


class ProjectMedia:
    """Turns payloads naming a project file into sendable ones, uploading the file when Meta lacks it."""

    def __init__(
        self,
        repository: Repository,
        client: CloudAPIClient,
        folder: Path,
        *,
        phone_number_id: str,
        clock: Callable[[], datetime],
    ) -> None:
        self._repository, self._client, self._folder = repository, client, folder
        self._phone_number_id, self._clock = phone_number_id, clock

    def __repr__(self) -> str:
        return f"ProjectMedia({str(self._folder)!r})"

    async def attach(
        self, payload: Mapping[str, Any], *, fresh: bool = False, number: str | None = None
    ) -> dict[str, Any]:
        """The payload ready to send from `number` (None: the default): a project file's media id filled in.

        Media ids are per business number: the file is uploaded from the number that sends it, first if
        that number has no recent upload of it, or if `fresh`.

        `MediaRefused` when the file is gone, outside the folder, or of a type or size Meta refuses; a
        failed upload raises the Cloud API's error.
        """
        file = payload.get(PROJECT_FILE)
        if not isinstance(file, str):
            return dict(payload)
        kind = str(payload.get("type"))
        data, name = await asyncio.to_thread(self._read, file)
        mime = check_media_file(kind, name, len(data))
        digest = hashlib.sha256(data).hexdigest()
        owner = number or self._phone_number_id
        media_id = None if fresh else await self._kept(owner, digest)
        if media_id is None:
            media_id = await self._client.upload(data, mime, name, number=number)
            async with self._repository.transaction() as conn:
                await uploads.record(
                    conn, phone_number_id=owner, sha256=digest, media_id=media_id,
                    mime_type=mime, size=len(data), now=self._clock(),
                )  # fmt: skip
            log.info("media.uploaded", file=file, kind=kind, size=len(data), fresh=fresh)
        ready = {k: v for k, v in payload.items() if k != PROJECT_FILE}
        ready[kind] = {**payload[kind], "id": media_id}
        return ready

    async def _kept(self, number: str, digest: str) -> str | None:
        """The media id of this file's upload from `number`, unless it is old enough that Meta may have dropped it."""
        async with self._repository.engine.connect() as conn:
            found = await uploads.find(conn, phone_number_id=number, sha256=digest)
        if found is None or self._clock() - found.uploaded_at >= STALE_AFTER:
            return None
        return found.media_id

    def _read(self, file: str) -> tuple[bytes, str]:
        folder = self._folder.resolve()
        path = (folder / file).resolve()
        if not path.is_relative_to(folder) or not path.is_file():
            raise MediaRefused(f"no file {file!r} in the flows folder")
        return path.read_bytes(), path.name
