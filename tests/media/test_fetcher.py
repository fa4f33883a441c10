"""Specification of the media fetcher, over real sockets: the whole service in sandbox mode, the sandbox as Meta.

A customer's photo goes through the sandbox's media endpoints and the webhook into the queue; the fetcher
fetches it in the background, checks it and stores it; the dashboard shows it behind its login; retention
and erasure delete it. Files that break a rule are refused once; failures to fetch are retried, then given up.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer, unused_port
from sqlalchemy import select

from bot import keys
from bot.app import create_app
from bot.media.fetcher import MediaFetcher
from bot.media.store import MEDIA_STORE, MediaStore
from bot.privacy.retention import Retention
from bot.sandbox.wire import encode, inbound_webhook
from bot.settings import Settings
from bot.whatsapp.media import MediaClient
from bot.whatsapp.signature import HEADER, sign
from storage.models import MEDIA, MediaBase
from storage.repository import Repository
from tests.conftest import ADMIN_TOKEN, FakeClock
from tests.media.pictures import png

CUSTOMER, OTHER = "31612345678", "447700900123"
VERSION = "v25.0"
AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@dataclass
class Service:
    url: str
    app: web.Application
    settings: Settings

    @property
    def repository(self) -> Repository:
        return self.app[keys.REPOSITORY]

    @property
    def store(self) -> MediaStore:
        return self.app[MEDIA_STORE]

    def client(self, session: aiohttp.ClientSession, *, base: str | None = None) -> MediaClient:
        """A media client like the service's own, to the sandbox (or to `base`)."""
        return MediaClient(
            session,
            base_url=base or f"{self.url}/sandbox",
            version=VERSION,
            phone_number_id=self.settings.phone_number_id,
            access_token="sandbox-access-token",
        )


@pytest.fixture
async def service(make_settings: Callable[..., Settings], tmp_path: Path) -> AsyncIterator[Service]:
    """`bot serve` in sandbox mode, every role running (the fetcher among them), files under tmp_path/media."""
    async with _service(make_settings, tmp_path, {"web", "dispatcher", "sender", "scheduler"}) as started:
        yield started


@pytest.fixture
async def web_only(make_settings: Callable[..., Settings], tmp_path: Path) -> AsyncIterator[Service]:
    """The service without its workers: the webhook stores and queues, and nothing fetches until a test does."""
    async with _service(make_settings, tmp_path, {"web", "dispatcher"}) as started:
        yield started


class _service:
    def __init__(self, make_settings: Callable[..., Settings], tmp_path: Path, roles: set[str]) -> None:
        self.port = unused_port()
        self.settings = make_settings(
            access_token=None, api_url=f"http://127.0.0.1:{self.port}/sandbox", media_dir=tmp_path / "media"
        )
        self.app = create_app(self.settings, migrate=True, roles=roles)
        self.server = TestServer(self.app, host="127.0.0.1", port=self.port)

    async def __aenter__(self) -> Service:
        await self.server.start_server()
        return Service(f"http://127.0.0.1:{self.port}", self.app, self.settings)

    async def __aexit__(self, *exc: object) -> None:
        await self.server.close()


async def send_file(
    http: aiohttp.ClientSession, wa_id: str, data: bytes, mime: str, filename: str, caption: str | None = None
) -> str:
    """The customer sends a file from the sandbox, as the chat page's file input does; its wamid."""
    form = aiohttp.FormData()
    form.add_field("file", io.BytesIO(data), content_type=mime, filename=filename)
    if caption:
        form.add_field("caption", caption)
    async with http.post(f"/sandbox/users/{wa_id}/media", data=form) as resp:
        assert resp.status == 200, await resp.text()
        return str((await resp.json())["wamid"])


async def media_rows(repository: Repository) -> list[MediaBase]:
    async with repository.engine.connect() as conn:
        rows = await conn.execute(select(MEDIA).order_by(MEDIA.c.id))
        return [MediaBase.model_validate(r._mapping) for r in rows]


async def settled(repository: Repository, count: int) -> list[MediaBase]:
    """Wait until `count` media rows are settled (stored, refused or failed)."""
    async with asyncio.timeout(15):
        while True:
            rows = await media_rows(repository)
            if len(rows) == count and all(r.status in ("stored", "refused", "failed") for r in rows):
                return rows
            await asyncio.sleep(0.05)


async def dashboard_login(http: aiohttp.ClientSession) -> None:
    async with http.get("/dashboard/login") as resp:
        token = re.search(r'name="csrf" value="([^"]+)"', await resp.text())
    assert token is not None
    async with http.post(
        "/dashboard/login", data={"csrf": token[1], "token": ADMIN_TOKEN}, allow_redirects=False
    ) as resp:
        assert resp.status == 303, await resp.text()


async def test_a_photo_from_the_sandbox_is_stored_with_its_sha256_shown_behind_the_login_and_erased(
    service: Service,
) -> None:
    """A customer's photo is fetched in the background, stored by its SHA-256, shown inline only after login, erased."""
    photo = png(seed=1)
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(service.url, cookie_jar=jar) as http:
        await send_file(http, CUSTOMER, photo, "image/png", "box.png", caption="The box arrived crushed")
        where = {"location": {"latitude": 52.3791, "longitude": 4.9003, "name": "Amsterdam Centraal"}}
        async with http.post(f"/sandbox/users/{CUSTOMER}/messages", json=where) as resp:
            assert resp.status == 200, await resp.text()
        [row] = await settled(service.repository, 1)
        assert (row.status, row.kind, row.mime_type, row.size) == ("stored", "image", "image/png", len(photo))
        assert row.sha256 == hashlib.sha256(photo).hexdigest()
        assert row.caption == "The box arrived crushed"
        assert await service.store.read(row.sha256) == photo
        async with http.get("/metrics") as resp:
            assert 'bot_media_fetches_total{outcome="stored"} 1.0' in await resp.text()

        async with http.get(f"/dashboard/media/{row.id}", allow_redirects=False) as resp:
            assert resp.status == 303  # no session: to the login page, and not a byte of the file
            assert resp.headers["Location"] == "/dashboard/login"
            assert photo not in await resp.read()
        await dashboard_login(http)
        async with http.get(f"/dashboard/conversations/{CUSTOMER}") as resp:
            page = await resp.text()
        assert f'<img src="/dashboard/media/{row.id}"' in page
        assert "The box arrived crushed" in page
        assert "Amsterdam Centraal" in page
        assert "52.3791, 4.9003" in page
        async with http.get(f"/dashboard/media/{row.id}") as resp:
            assert resp.status == 200
            assert resp.content_type == "image/png"
            assert resp.headers["X-Content-Type-Options"] == "nosniff"
            assert await resp.read() == photo

        report = await erase(http, CUSTOMER)
        assert report["deleted"]["media"] == 1
        assert report["deleted"]["media_files"] == 1
        assert await media_rows(service.repository) == []
        assert not service.store.has(row.sha256)
        async with http.get(f"/dashboard/media/{row.id}") as resp:
            assert resp.status == 404


async def erase(http: aiohttp.ClientSession, wa_id: str) -> dict[str, Any]:
    """Erase the contact through the API, again while the bot's reply to them is still being sent (409)."""
    async with asyncio.timeout(15):
        while True:
            async with http.post(f"/api/contacts/{wa_id}/erase", headers=AUTH) as resp:
                if resp.status != 409:
                    assert resp.status == 200, await resp.text()
                    return dict(await resp.json())
            await asyncio.sleep(0.05)


async def test_the_webhook_answers_before_the_download_failures_are_retried_and_retention_deletes_files(
    web_only: Service,
) -> None:
    """The webhook only queues; a fetch that cannot reach Meta is retried later; one never found is given up."""
    photo = png(seed=2)
    async with aiohttp.ClientSession(web_only.url) as http, aiohttp.ClientSession() as session:
        await send_file(http, CUSTOMER, photo, "image/png", "parcel.png")
        clock = FakeClock(datetime.now(UTC) + timedelta(seconds=1))
        [queued] = await media_rows(web_only.repository)
        assert (queued.status, queued.attempts, queued.sha256) == ("queued", 0, None)  # answered, not downloaded
        assert not (web_only.settings.media_dir).exists()

        unreachable = web_only.client(session, base=f"http://127.0.0.1:{unused_port()}")
        down = MediaFetcher(web_only.repository, unreachable, web_only.store, clock=clock, backoff=60)
        assert await down.fetch_due() == 1
        [waiting] = await media_rows(web_only.repository)
        assert (waiting.status, waiting.attempts) == ("queued", 1)
        assert "could not be reached" in (waiting.error or "")
        assert waiting.due_at == clock() + timedelta(seconds=60)

        fetcher = MediaFetcher(
            web_only.repository, web_only.client(session), web_only.store, clock=clock, max_attempts=2
        )
        assert await fetcher.fetch_due() == 0  # not due yet: the backoff holds
        clock.advance(seconds=61)
        assert await fetcher.fetch_due() == 1
        [stored] = await media_rows(web_only.repository)
        assert (stored.status, stored.attempts, stored.sha256) == ("stored", 2, hashlib.sha256(photo).hexdigest())

        unknown = {"id": "4490709327384033", "mime_type": "image/jpeg", "sha256": base64.b64encode(b"x" * 32).decode()}
        await post_webhook(http, web_only.settings, OTHER, "image", unknown)
        for _ in range(2):
            assert await fetcher.fetch_due() == 1
            clock.advance(seconds=3600)
        assert await fetcher.fetch_due() == 0
        gone = (await media_rows(web_only.repository))[1]
        assert (gone.status, gone.attempts) == ("failed", 2)
        assert gone.error is not None
        assert gone.error.startswith("after 2 attempts")

        retention = Retention(
            web_only.repository, webhooks_days=None, texts_days=None, media_days=1, media=web_only.store,
            clock=lambda: clock() + timedelta(days=2),
        )  # fmt: skip
        assert (await retention.purge()).media == 1
        assert not web_only.store.has(stored.sha256 or "")
        assert [r.status for r in await media_rows(web_only.repository)] == ["purged", "failed"]


async def post_webhook(
    http: aiohttp.ClientSession, settings: Settings, wa_id: str, kind: str, body: dict[str, Any]
) -> None:
    """A media message posted to /webhook exactly as Meta posts one (signed)."""
    message = {
        "from": wa_id, "id": f"wamid.media.{wa_id}.{kind}.{body['id']}", "type": kind, kind: body,
        "timestamp": str(int(datetime.now(UTC).timestamp())),
    }  # fmt: skip
    raw = encode(inbound_webhook(settings.phone_number_id, name="Ana", wa_id=wa_id, message=message))
    headers = {"Content-Type": "application/json", HEADER: sign(settings.app_secret, raw)}
    async with http.post("/webhook", data=raw, headers=headers) as resp:
        assert resp.status == 200, await resp.text()


async def upload(http: aiohttp.ClientSession, settings: Settings, data: bytes, mime: str) -> str:
    """Upload a file to the sandbox's Graph API as a business would; its media id."""
    form = aiohttp.FormData()
    form.add_field("messaging_product", "whatsapp")
    form.add_field("file", io.BytesIO(data), content_type=mime, filename="upload")
    headers = {"Authorization": "Bearer sandbox-access-token"}
    async with http.post(f"/sandbox/{VERSION}/{settings.phone_number_id}/media", data=form, headers=headers) as resp:
        assert resp.status == 200, await resp.text()
        return str((await resp.json())["id"])


async def test_a_wrong_sha256_a_file_too_big_and_a_disallowed_type_are_refused_once(web_only: Service) -> None:
    """Each file breaking a rule is refused on its first fetch, with the reason recorded, and never fetched again."""
    photo = png(seed=3)
    async with aiohttp.ClientSession(web_only.url) as http, aiohttp.ClientSession() as session:
        media_id = await upload(http, web_only.settings, photo, "image/png")
        wrong = base64.b64encode(hashlib.sha256(b"another file").digest()).decode()
        await post_webhook(
            http, web_only.settings, CUSTOMER, "image", {"id": media_id, "mime_type": "image/png", "sha256": wrong}
        )
        too_big = photo + bytes(5 * 1024 * 1024)  # Meta allows images up to 5 MB
        await send_file(http, OTHER, too_big, "image/png", "huge.png")
        await send_file(http, OTHER, b"PK\x03\x04 not really a zip", "application/zip", "files.zip")

        clock = FakeClock(datetime.now(UTC) + timedelta(seconds=1))
        fetcher = MediaFetcher(web_only.repository, web_only.client(session), web_only.store, clock=clock)
        assert await fetcher.fetch_due() == 3
        clock.advance(days=1)
        assert await fetcher.fetch_due() == 0  # refused files are settled: nothing to fetch again
    rows = await media_rows(web_only.repository)
    assert [(r.kind, r.status, r.attempts) for r in rows] == [
        ("image", "refused", 1), ("image", "refused", 1), ("document", "refused", 1),
    ]  # fmt: skip
    assert "does not match" in (rows[0].error or "")
    assert "over Meta's limit of 5242880 bytes" in (rows[1].error or "")
    assert "type application/zip is not allowed for document" in (rows[2].error or "")
    assert not web_only.settings.media_dir.exists()  # nothing refused was stored
