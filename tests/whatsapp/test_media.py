"""Specification of bot.whatsapp.media's rules: Meta's types and size limits per kind, and its SHA-256 in two forms."""

from __future__ import annotations

import base64
import hashlib

import pytest

from bot.errors import MediaRefused
from bot.whatsapp.media import check_sha256, check_size, check_type, size_limit

DATA = b"a photo of a crushed box"


def test_metas_sha256_is_read_in_base64_as_webhooks_send_it_and_in_hex_as_the_media_url_does() -> None:
    """Both forms of the right digest pass and answer the hex digest; a wrong or unreadable one is refused."""
    digest = hashlib.sha256(DATA)
    assert check_sha256(DATA, base64.b64encode(digest.digest()).decode()) == digest.hexdigest()
    assert check_sha256(DATA, digest.hexdigest().upper()) == digest.hexdigest()
    assert check_sha256(DATA, None) == digest.hexdigest()
    with pytest.raises(MediaRefused, match="does not match"):
        check_sha256(DATA, hashlib.sha256(b"another").hexdigest())
    with pytest.raises(MediaRefused, match="neither hex nor base64"):
        check_sha256(DATA, "not a digest!")


@pytest.mark.parametrize(
    ("kind", "mime", "allowed"),
    [
        ("image", "image/jpeg", True), ("image", "IMAGE/PNG", True), ("image", "image/webp", False),
        ("audio", "audio/ogg; codecs=opus", True), ("video", "video/mp4", True), ("video", "video/quicktime", False),
        ("document", "application/pdf", True), ("document", "application/zip", False), ("sticker", "image/webp", True),
        ("document", "", False),
    ],
)  # fmt: skip
def test_each_kind_takes_metas_types_only(kind: str, mime: str, allowed: bool) -> None:
    """A type Meta lists for the kind passes (without its parameters, in any case); anything else is refused."""
    if allowed:
        assert check_type(kind, mime) == mime.split(";")[0].lower()
    else:
        with pytest.raises(MediaRefused, match="is not allowed"):
            check_type(kind, mime)


def test_size_limits_are_metas_per_kind_and_a_sticker_by_animation() -> None:
    """5 MB images, 16 MB audio and video, 100 MB documents, 100 KB static and 500 KB animated stickers."""
    mb = 1024 * 1024
    assert [size_limit(k) for k in ("image", "audio", "video", "document")] == [5 * mb, 16 * mb, 16 * mb, 100 * mb]
    assert (size_limit("sticker"), size_limit("sticker", animated=True)) == (100 * 1024, 500 * 1024)
    check_size("image", 5 * mb)
    with pytest.raises(MediaRefused, match="over Meta's limit"):
        check_size("image", 5 * mb + 1)
