"""The project's files uploaded to Meta: each one's media id, by its content and the business number, and when.

Two senders may upload the same file at once; both ids work, and the last one recorded is kept.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, select
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.dialect import insert_ignoring_conflicts
from storage.models import MEDIA_UPLOAD, MediaUploadBase


def _file(phone_number_id: str, sha256: str) -> Any:
    return and_(MEDIA_UPLOAD.c.phone_number_id == phone_number_id, MEDIA_UPLOAD.c.sha256 == sha256)


async def find(conn: AsyncConnection, *, phone_number_id: str, sha256: str) -> MediaUploadBase | None:
    """The last upload of the file with this SHA-256 for this number, if any."""
    row = (await conn.execute(select(MEDIA_UPLOAD).where(_file(phone_number_id, sha256)))).first()
    return MediaUploadBase.model_validate(row._mapping) if row else None


async def record(
    conn: AsyncConnection, *, phone_number_id: str, sha256: str, media_id: str, mime_type: str, size: int, now: datetime
) -> None:
    """Keep the media id Meta answered for an upload of this file, in place of any earlier one."""
    await conn.execute(delete(MEDIA_UPLOAD).where(_file(phone_number_id, sha256)))
    values = {
        "phone_number_id": phone_number_id, "sha256": sha256, "media_id": media_id, "mime_type": mime_type,
        "size": size, "uploaded_at": now,
    }  # fmt: skip
    await conn.execute(insert_ignoring_conflicts(conn, MEDIA_UPLOAD).values(**values))
