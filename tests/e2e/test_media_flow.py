"""Flows that ask for and send media, end to end: the whole service in sandbox mode, the sandbox as Meta.

The shipped orders flow asks a customer with a damaged parcel for a photo (a text is asked again), keeps
the stored file in the session and shows it in the dashboard's handoff view; a return gets the project's
returns form, uploaded to the sandbox's media endpoint once and sent by its id, uploaded again when the
sandbox forgets it or the upload is 29 days old; a pick-up location fills its slot the same way.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select, update

from bot.app import SANDBOX_ACCESS_TOKEN
from bot.settings import Settings
from storage.models import MEDIA_UPLOAD
from tests.conftest import ADMIN_TOKEN
from tests.media.pictures import png
from tests.media.test_fetcher import Service, _service, dashboard_login, send_file, settled

CUSTOMER, OTHER = "31612345678", "447700900123"
AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
FORM = Path("flows/media/returns-form.pdf").read_bytes()  # read once, at import


@pytest.fixture
async def service(make_settings: Callable[..., Settings], tmp_path: Path) -> AsyncIterator[Service]:
    """`bot serve` in sandbox mode with the shipped flows, every role running."""
    async with _service(make_settings, tmp_path, {"web", "dispatcher", "sender", "scheduler"}) as started:
        yield started


async def chat(http: aiohttp.ClientSession, wa_id: str) -> list[dict[str, Any]]:
    async with http.get(f"/sandbox/users/{wa_id}/messages") as resp:
        return list((await resp.json())["items"])


async def sends(http: aiohttp.ClientSession, wa_id: str, body: dict[str, Any], wanted: str) -> list[dict[str, Any]]:
    """The customer sends `body`; the bot's messages after it, once one of them contains `wanted`."""
    before = len(await chat(http, wa_id))
    async with http.post(f"/sandbox/users/{wa_id}/messages", json={**body, "name": "Ana"}) as resp:
        assert resp.status == 200, await resp.text()
    return await replies(http, wa_id, before, wanted)


async def replies(http: aiohttp.ClientSession, wa_id: str, before: int, wanted: str) -> list[dict[str, Any]]:
    async with asyncio.timeout(15):
        while True:
            out = [i for i in (await chat(http, wa_id))[before:] if i["direction"] == "out"]
            if any(wanted in _shown(i) for i in out):
                return out
            await asyncio.sleep(0.05)


def _shown(item: dict[str, Any]) -> str:
    media = item.get("media") or {}
    return f"{item.get('text') or ''} {media.get('filename') or ''}"


async def to_delivered_order(http: aiohttp.ClientSession, wa_id: str) -> None:
    """A delivered order, and the customer at "Is everything all right with it?"."""
    order = {"wa_id": wa_id, "number": f"1{wa_id[-4:]}", "status": "delivered"}
    async with http.post("/api/orders", json=order, headers=AUTH) as resp:
        assert resp.status == 201, await resp.text()
    await sends(http, wa_id, {"text": "hi"}, "What can I help you with?")
    await sends(http, wa_id, {"list": "orders"}, "Which order is it about?")
    await sends(http, wa_id, {"button": order["number"]}, "Is everything all right with it?")


async def back_to_the_order(http: aiohttp.ClientSession, wa_id: str) -> None:
    """From "Shall our courier pick the parcel up?" back to the same order's question, through the main menu."""
    await sends(http, wa_id, {"button": "drop_off"}, "Anything else I can help with?")
    await sends(http, wa_id, {"button": "menu"}, "What can I help you with?")
    await sends(http, wa_id, {"list": "orders"}, "Which order is it about?")
    await sends(http, wa_id, {"button": f"1{wa_id[-4:]}"}, "Is everything all right with it?")


async def test_a_damaged_parcels_photo_is_asked_for_kept_and_shown_in_the_handoff(service: Service) -> None:
    """A text at the photo step is asked again; the photo fills the slot, a person takes over and sees it inline."""
    photo = png(seed=3)
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(service.url, cookie_jar=jar) as http:
        await to_delivered_order(http, CUSTOMER)
        await sends(http, CUSTOMER, {"button": "damaged"}, "Please send a photo of the damage")
        again = await sends(http, CUSTOMER, {"text": "the box is crushed"}, "Please send a photo:")
        assert [i["text"] for i in again][:1] == ["Please send a photo: tap the clip or the camera and pick one."]
        before = len(await chat(http, CUSTOMER))
        await send_file(http, CUSTOMER, photo, "image/png", "box.png", caption="Crushed")
        await replies(http, CUSTOMER, before, "A person from our team will look at it")
        [row] = await settled(service.repository, 1)
        await dashboard_login(http)
        async with http.get(f"/dashboard/inbox/{CUSTOMER}") as resp:
            page = await resp.text()
        assert "What the customer sent the bot" in page
        assert "Damage photo" in page
        assert page.count(f'<img src="/dashboard/media/{row.id}"') == 2  # in the handoff's box and in the chat


async def test_the_returns_form_is_uploaded_once_and_again_when_meta_forgets_it(service: Service) -> None:
    """The project's PDF goes up to the media endpoint once; a forgotten id or a 29-day-old upload is redone."""
    async with aiohttp.ClientSession(service.url) as http:
        await to_delivered_order(http, CUSTOMER)
        out = await sends(http, CUSTOMER, {"button": "return"}, "Shall our courier")
        [document] = [i for i in out if i["type"] == "document"]
        assert document["media"]["filename"] == "returns-form.pdf"
        assert document["text"].startswith("Our returns form for order 1")
        first = document["media"]["id"]
        async with http.get(document["media"]["url"]) as resp:
            assert await resp.read() == FORM
        assert await uploads(service) == [first]

        await to_delivered_order(http, OTHER)
        out = await sends(http, OTHER, {"button": "return"}, "Shall our courier")
        assert [i["media"]["id"] for i in out if i["type"] == "document"] == [first]  # the kept id, no upload

        # Meta forgets the file (here: deleted at the sandbox): the send is refused, uploaded again, sent.
        headers = {"Authorization": f"Bearer {SANDBOX_ACCESS_TOKEN}"}
        async with http.delete(f"/sandbox/v25.0/{first}", headers=headers) as resp:
            assert resp.status == 200
        await back_to_the_order(http, OTHER)
        out = await sends(http, OTHER, {"button": "return"}, "Shall our courier")
        [second] = [i["media"]["id"] for i in out if i["type"] == "document"]
        assert second != first
        assert await uploads(service) == [second]

        # An upload 29 days old is not trusted: Meta keeps files 30 days.
        async with service.repository.transaction() as conn:
            old = (await conn.execute(select(MEDIA_UPLOAD.c.uploaded_at))).scalar_one() - timedelta(days=29)
            await conn.execute(update(MEDIA_UPLOAD).values(uploaded_at=old))
        await back_to_the_order(http, OTHER)
        out = await sends(http, OTHER, {"button": "return"}, "Shall our courier")
        [third] = [i["media"]["id"] for i in out if i["type"] == "document"]
        assert third not in (first, second)
        assert await uploads(service) == [third]


async def test_a_pick_up_location_is_asked_for_and_shown_in_the_handoff(service: Service) -> None:
    """A text at the location step is asked again; the shared place fills the slot and the handoff shows it."""
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(service.url, cookie_jar=jar) as http:
        await to_delivered_order(http, CUSTOMER)
        await sends(http, CUSTOMER, {"button": "return"}, "Shall our courier pick the parcel up?")
        await sends(http, CUSTOMER, {"button": "pickup"}, "Please share the location")
        await sends(http, CUSTOMER, {"text": "at home"}, "Please share a location:")
        place = {"latitude": 52.3791, "longitude": 4.9003, "name": "Amsterdam Centraal", "address": "Stationsplein"}
        await sends(http, CUSTOMER, {"location": place}, "Thank you: Amsterdam Centraal.")
        await dashboard_login(http)
        async with http.get(f"/dashboard/inbox/{CUSTOMER}") as resp:
            page = await resp.text()
        assert "Pickup location" in page
        assert page.count("52.3791, 4.9003") == 2  # in the handoff's box and in the chat


async def uploads(service: Service) -> list[str]:
    async with service.repository.engine.connect() as conn:
        return [str(i) for i in (await conn.execute(select(MEDIA_UPLOAD.c.media_id))).scalars()]
