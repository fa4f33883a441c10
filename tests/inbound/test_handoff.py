"""Specification of bot.inbound.handoff through the whole service in sandbox mode: a release tells the customer."""

from __future__ import annotations

from typing import Any

import aiohttp

from tests.conftest import ADMIN_TOKEN
from tests.e2e.test_sandbox_service import poll, service

__all__ = ["service"]  # the fixture, used by name
CUSTOMER = "5511987650001"
AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


async def test_a_release_tells_the_customer_in_their_language(service: str) -> None:
    """Given back to the bot, a Brazilian customer reads that the assistant is back, in Portuguese, on their phone."""
    async with aiohttp.ClientSession(service) as http:
        contact = {"wa_id": CUSTOMER, "name": "Carla", "language": "pt_BR"}
        assert (await http.post("/api/contacts", json=contact, headers=AUTH)).status in (200, 201)
        assert (await http.post(f"/sandbox/users/{CUSTOMER}/messages", json={"text": "atendente"})).status == 200

        async def chat() -> list[dict[str, Any]]:
            async with http.get(f"/sandbox/users/{CUSTOMER}/messages") as r:
                return list((await r.json())["items"])

        handed = "Uma pessoa da nossa equipe vai responder aqui em breve."
        await poll(chat, lambda items: any(i["text"] == handed for i in items))
        async with http.post(f"/api/conversations/{CUSTOMER}/release", headers=AUTH) as r:
            assert (r.status, (await r.json())["released"]) == (200, True)
        back = "Você está falando de novo com nosso assistente. Digite menu para ver as opções."
        items = await poll(chat, lambda items: items[-1]["direction"] == "out" and items[-1]["text"] == back)
        assert [i["text"] for i in items].count(back) == 1
