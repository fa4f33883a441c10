"""The sandbox's media, held in memory as Meta holds uploads: ids, download links that expire, and what customers send.

Meta answers ``GET /{media-id}`` with a URL valid for five minutes that only answers with the access token;
the sandbox does the same with a random key per link. What a customer sends (a photo, a document, a
location) becomes the ``messages[]`` entry Meta would post, with the file's id and its SHA-256 in base64.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bot.errors import NotFound, ValidationError
from bot.whatsapp.media import base_type

LINK_LIFE = timedelta(minutes=5)  # Meta: "The URL is only valid for 5 minutes"
SHELF_BYTES = 256 * 1024 * 1024  # the most the sandbox keeps; the oldest files go first past it
CAPTION_MAX = 1024
FILENAME_MAX = 240


@dataclass
class SandboxFile:
    """One uploaded file: its bytes, type, name, and the key of its current download link."""

    media_id: str
    data: bytes
    mime_type: str
    filename: str | None
    uploaded_at: datetime
    link_key: str = ""
    link_expires: datetime | None = None

    @property
    def sha256_hex(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    @property
    def sha256_base64(self) -> str:
        """As Meta's webhooks carry it."""
        return base64.b64encode(hashlib.sha256(self.data).digest()).decode()


class MediaShelf:
    """The files the sandbox holds, by media id, oldest first; past `limit` bytes the oldest are dropped."""

    def __init__(self, limit: int = SHELF_BYTES) -> None:
        self._files: OrderedDict[str, SandboxFile] = OrderedDict()
        self._limit = limit
        self._bytes = 0

    def put(self, data: bytes, mime_type: str, filename: str | None, now: datetime) -> SandboxFile:
        media_id = str(10**15 + secrets.randbelow(9 * 10**15))  # digits, as Meta's media ids are
        found = SandboxFile(media_id, data, base_type(mime_type) or "application/octet-stream", filename, now)
        self._files[media_id] = found
        self._bytes += len(data)
        while self._bytes > self._limit and len(self._files) > 1:
            _, old = self._files.popitem(last=False)
            self._bytes -= len(old.data)
        return found

    def get(self, media_id: str) -> SandboxFile:
        found = self._files.get(media_id)
        if found is None:
            raise NotFound(f"no media with id {media_id!r}")
        return found

    def delete(self, media_id: str) -> None:
        found = self._files.pop(media_id, None)
        if found is None:
            raise NotFound(f"no media with id {media_id!r}")
        self._bytes -= len(found.data)

    def link(self, media_id: str, now: datetime) -> SandboxFile:
        """Issue a fresh download link for the file (the previous one stops working)."""
        found = self.get(media_id)
        found.link_key, found.link_expires = secrets.token_urlsafe(18), now + LINK_LIFE
        return found

    def by_link(self, media_id: str, key: str, now: datetime) -> SandboxFile:
        found = self.get(media_id)
        live = found.link_expires is not None and now < found.link_expires
        if not live or not secrets.compare_digest(found.link_key.encode(), key.encode()):
            raise NotFound("the media URL is unknown or has expired; ask GET /{media-id} for a new one")
        return found


def kind_of(mime_type: str) -> str:
    """The message type a phone sends a file of this type as: photos as image, anything unknown as document."""
    base = base_type(mime_type)
    if base in ("image/jpeg", "image/png"):
        return "image"
    if base == "image/webp":
        return "sticker"
    for family in ("video", "audio"):
        if base.startswith(f"{family}/"):
            return family
    return "document"


def media_message(kind: str, found: SandboxFile, caption: str | None) -> dict[str, Any]:
    """The type object of a customer's media message, as Meta's webhook carries it."""
    if kind not in ("image", "video", "audio", "document", "sticker"):
        raise ValidationError(f"kind must be image, video, audio, document or sticker, not {kind!r}")
    if caption is not None and len(caption) > CAPTION_MAX:
        raise ValidationError(f"caption is {len(caption)} characters; at most {CAPTION_MAX}")
    body: dict[str, Any] = {"mime_type": found.mime_type, "sha256": found.sha256_base64, "id": found.media_id}
    if caption and kind in ("image", "video", "document"):
        body["caption"] = caption
    if kind == "document":
        body["filename"] = found.filename or "file"
    elif kind == "audio":
        body["voice"] = False
    elif kind == "sticker":
        body["animated"] = False
    return body


def location_message(value: Any) -> dict[str, Any]:
    """A customer's shared location from ``{"latitude", "longitude", "name"?, "address"?}``, checked."""
    if not isinstance(value, dict):
        raise ValidationError('location must be an object: {"latitude": …, "longitude": …, "name"?, "address"?}')
    body: dict[str, Any] = {}
    for key, bound in (("latitude", 90), ("longitude", 180)):
        number = value.get(key)
        if isinstance(number, str):
            try:
                number = float(number)
            except ValueError:
                number = None
        if not isinstance(number, int | float) or isinstance(number, bool) or not -bound <= number <= bound:
            raise ValidationError(f"location.{key} must be a number from -{bound} to {bound}")
        body[key] = number
    for key in ("name", "address"):
        text = value.get(key)
        if text is None or text == "":
            continue
        if not isinstance(text, str) or len(text) > 256:
            raise ValidationError(f"location.{key} must be a string of at most 256 characters")
        body[key] = text
    return body


def location_text(body: dict[str, Any]) -> str:
    """What a chat shows for a location: its name and address, or its coordinates."""
    words = ", ".join(str(body[k]) for k in ("name", "address") if body.get(k))
    return words or f"{body['latitude']}, {body['longitude']}"
