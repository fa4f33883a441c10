"""Small real files for the media tests: a PNG drawn in code, so no binary lives in the repository."""

from __future__ import annotations

import struct
import zlib


def png(width: int = 96, height: int = 64, seed: int = 0) -> bytes:
    """A valid RGB PNG with a colour gradient (`seed` changes the colours, and so the bytes)."""
    rows = b"".join(
        b"\x00" + b"".join(bytes(((x * 4 + seed) % 256, (y * 4) % 256, (128 + seed * 40) % 256)) for x in range(width))
        for y in range(height)
    )

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")
