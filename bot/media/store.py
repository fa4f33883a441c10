"""The media store: files in a local folder (BOT_MEDIA_DIR), one copy per content, named by their SHA-256.

Content addressing makes a file sent twice (a sticker everyone uses) one file, and its name is its check:
a name is 64 hex digits or it is refused, so no stored value can reach outside the folder. A file is written
to a temporary name and renamed into place, so a reader never sees half of one.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import tempfile
from pathlib import Path
from typing import Final

from aiohttp import web

_DIGEST = re.compile(r"[0-9a-f]{64}")


class MediaStore:
    """A folder of files named by the hex SHA-256 of their bytes, two levels of subfolders deep."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def __repr__(self) -> str:
        return f"MediaStore({str(self.root)!r})"

    def path(self, digest: str) -> Path:
        """Where the file with this digest lives; `ValueError` for anything but 64 lower-case hex digits."""
        if not _DIGEST.fullmatch(digest):
            raise ValueError("a media digest is 64 lower-case hex digits")
        return self.root / digest[:2] / digest[2:4] / digest

    async def put(self, digest: str, data: bytes) -> None:
        """Keep `data` under `digest` (its SHA-256, checked by the caller); a file already there is kept."""
        await asyncio.to_thread(self._write, self.path(digest), data)

    async def delete(self, digest: str) -> bool:
        """Delete the file with this digest; whether there was one."""
        return await asyncio.to_thread(self._unlink, self.path(digest))

    async def read(self, digest: str) -> bytes | None:
        path = self.path(digest)
        return await asyncio.to_thread(path.read_bytes) if path.is_file() else None

    def has(self, digest: str) -> bool:
        return self.path(digest).is_file()

    @staticmethod
    def _write(path: Path, data: bytes) -> None:
        if path.is_file():
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".incoming-")
        try:
            with os.fdopen(handle, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary)
            raise

    @staticmethod
    def _unlink(path: Path) -> bool:
        try:
            path.unlink()
        except FileNotFoundError:
            return False
        return True


MEDIA_STORE: Final = web.AppKey("media_store", MediaStore)
