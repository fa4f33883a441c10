"""Meta's media: the limits each kind of file must keep, and the client that fetches a file by its media id.

A file is fetched as Meta serves it: ``GET /{version}/{media-id}`` with the access token answers its
``url``, ``mime_type``, ``sha256`` and ``file_size``; ``GET url`` with the same bearer token answers the
bytes. The URL lives five minutes, so it is asked for afresh on every attempt.
https://developers.facebook.com/documentation/business-messaging/whatsapp/business-phone-numbers/media
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp import web

from bot.errors import MediaRefused, TransientError
from bot.whatsapp.client import error_from_response
from storage import json_codec

KB, MB = 1024, 1024 * 1024
# Supported media types and their size limits, per kind of message:
# https://developers.facebook.com/documentation/business-messaging/whatsapp/business-phone-numbers/media#supported-media-types
DOCUMENT_TYPES = frozenset(
    {
        "text/plain",
        "application/pdf",
        "application/msword",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "application/vnd.ms-excel",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "application/vnd.ms-powerpoint",
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    }
)
ALLOWED_TYPES: dict[str, frozenset[str]] = {
    "image": frozenset({"image/jpeg", "image/png"}),
    "sticker": frozenset({"image/webp"}),
    "audio": frozenset({"audio/aac", "audio/amr", "audio/mpeg", "audio/mp4", "audio/ogg"}),
    "video": frozenset({"video/mp4", "video/3gpp", "video/3gp"}),
    "document": DOCUMENT_TYPES,
}
SIZE_LIMITS: dict[str, int] = {"image": 5 * MB, "audio": 16 * MB, "video": 16 * MB, "document": 100 * MB}
STICKER_LIMITS = {False: 100 * KB, True: 500 * KB}  # static, animated
EXTENSIONS = {
    "image/jpeg": "jpg", "image/png": "png", "image/webp": "webp", "audio/aac": "aac", "audio/amr": "amr",
    "audio/mpeg": "mp3", "audio/mp4": "m4a", "audio/ogg": "ogg", "video/mp4": "mp4", "video/3gpp": "3gp",
    "video/3gp": "3gp", "text/plain": "txt", "application/pdf": "pdf", "application/msword": "doc",
    "application/vnd.ms-excel": "xls", "application/vnd.ms-powerpoint": "ppt",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "xlsx",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": "pptx",
}  # fmt: skip


# A project file's type, by its extension: the first type naming each extension above.
TYPES_BY_EXTENSION = {extension: mime for mime, extension in reversed(EXTENSIONS.items())} | {"jpeg": "image/jpeg"}


def type_of_file(name: str) -> str | None:
    """The media type of a file to send, from its name's extension (``terms.pdf`` → application/pdf)."""
    _, dot, extension = name.rpartition(".")
    return TYPES_BY_EXTENSION.get(extension.lower()) if dot else None


def check_media_file(kind: str, name: str, size: int | None) -> str:
    """A file to send as `kind`, judged by its name's extension and its size: its type, or `MediaRefused`."""
    mime = type_of_file(name)
    if mime is None or mime not in ALLOWED_TYPES.get(kind, ()):
        allowed = ", ".join(sorted({f".{EXTENSIONS[t]}" for t in ALLOWED_TYPES.get(kind, ())}))
        raise MediaRefused(f"{name}: WhatsApp sends only {allowed} files as {kind}")
    if size is not None:
        check_size(kind, size)
    return mime


def base_type(mime_type: str) -> str:
    """``audio/ogg; codecs=opus`` → ``audio/ogg``: the type without its parameters, lower case."""
    return mime_type.split(";", 1)[0].strip().lower()


def size_limit(kind: str, *, animated: bool = False) -> int:
    """The largest file Meta allows for a message of `kind`, in bytes."""
    return STICKER_LIMITS[animated] if kind == "sticker" else SIZE_LIMITS.get(kind, 0)


def check_type(kind: str, mime_type: str) -> str:
    """The file's base type if a message of `kind` may carry it; else `MediaRefused` naming what is allowed."""
    base = base_type(mime_type)
    allowed = ALLOWED_TYPES.get(kind, frozenset())
    if base not in allowed:
        raise MediaRefused(f"type {base or '(none)'} is not allowed for {kind}; allowed: {', '.join(sorted(allowed))}")
    return base


def check_size(kind: str, size: int, *, animated: bool = False) -> None:
    limit = size_limit(kind, animated=animated)
    if size > limit:
        raise MediaRefused(f"{kind} of {size} bytes is over Meta's limit of {limit} bytes")


def digest_bytes(declared: str) -> bytes | None:
    """Meta's SHA-256 as bytes: the webhook sends it in base64, the media URL's answer in hex; None if neither."""
    text = declared.strip()
    if len(text) == 64:
        try:
            return bytes.fromhex(text)
        except ValueError:
            pass
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw if len(raw) == 32 else None


def check_sha256(data: bytes, declared: str | None) -> str:
    """The hex SHA-256 of `data`; `MediaRefused` when Meta declared another (or an unreadable one)."""
    digest = hashlib.sha256(data)
    if declared is not None:
        expected = digest_bytes(declared)
        if expected is None:
            raise MediaRefused("Meta's sha256 for the file is neither hex nor base64 of 32 bytes")
        if expected != digest.digest():
            raise MediaRefused("the file's SHA-256 does not match the one Meta declared")
    return digest.hexdigest()


@dataclass(frozen=True)
class MediaInfo:
    """What ``GET /{media-id}`` answers: where to fetch the file, and what Meta says it is."""

    media_id: str
    url: str
    mime_type: str
    sha256: str | None
    file_size: int | None


class MediaClient:
    """Fetches inbound media from the Graph API (or the sandbox playing it) with the access token."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        base_url: str,
        version: str,
        phone_number_id: str,
        access_token: str,
        timeout: float = 60.0,
    ) -> None:
        self._session = session
        self._base = f"{base_url.rstrip('/')}/{version}"
        self._phone_number_id = phone_number_id
        self._headers = {"Authorization": f"Bearer {access_token}"}
        self._timeout = aiohttp.ClientTimeout(total=timeout, sock_read=30.0)

    def __repr__(self) -> str:
        return f"MediaClient(base={self._base!r})"

    async def info(self, media_id: str) -> MediaInfo:
        """Where the file with this id is, and its type, checksum and size as Meta reports them."""
        url = f"{self._base}/{media_id}"
        try:
            async with self._session.get(
                url, params={"phone_number_id": self._phone_number_id}, headers=self._headers, timeout=self._timeout
            ) as response:
                status, raw = response.status, await response.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise TransientError(
                f"media {media_id}: the Graph API could not be reached ({type(exc).__name__})"
            ) from exc
        body = _json(raw)
        if not 200 <= status < 300:
            raise error_from_response(status, body)
        return _info(media_id, body)

    async def download(self, url: str, *, limit: int) -> bytes:
        """The file's bytes, read in pieces; `MediaRefused` as soon as more than `limit` bytes arrive."""
        try:
            async with self._session.get(url, headers=self._headers, timeout=self._timeout) as response:
                if response.status != 200:
                    raise TransientError(f"the media URL answered HTTP {response.status}", http_status=response.status)
                declared = response.content_length
                if declared is not None and declared > limit:
                    raise MediaRefused(f"the file is {declared} bytes, over the limit of {limit} bytes")
                chunks, size = [], 0
                async for chunk in response.content.iter_chunked(64 * KB):
                    size += len(chunk)
                    if size > limit:
                        raise MediaRefused(f"the file is over the limit of {limit} bytes")
                    chunks.append(chunk)
                return b"".join(chunks)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise TransientError(f"the media download failed ({type(exc).__name__})") from exc


def _json(raw: bytes) -> Any:
    try:
        return json_codec.loads(raw)
    except ValueError:
        return None


def _info(media_id: str, body: Any) -> MediaInfo:
    if not isinstance(body, dict) or not isinstance(body.get("url"), str) or not body["url"].startswith("http"):
        raise TransientError(f"media {media_id}: the Graph API's answer has no download url")
    size = body.get("file_size")
    if isinstance(size, str) and size.isdecimal():
        size = int(size)
    return MediaInfo(
        media_id,
        body["url"],
        body["mime_type"] if isinstance(body.get("mime_type"), str) else "",
        body["sha256"] if isinstance(body.get("sha256"), str) else None,
        size if isinstance(size, int) and not isinstance(size, bool) else None,
    )


MEDIA_CLIENT = web.AppKey("media_client", MediaClient)
