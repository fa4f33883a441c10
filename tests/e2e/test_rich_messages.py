"""Rich messages through the whole service in sandbox mode, on SQLite and PostgreSQL: template file and place
headers sent by the notifications API, and the stores flow's photo header, location request and link button."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import aiohttp

from tests.conftest import ADMIN_TOKEN
from tests.e2e import test_sandbox_service
from tests.e2e.test_sandbox_service import poll

service = test_sandbox_service.service  # `bot serve` in sandbox mode on a free port
CUSTOMER = "31612345678"
AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
INVOICE = {
    "customer_name": "Ana",
    "order_number": "10482",
    "total": "€84.90",
    "invoice_url": "https://shop.example.com/invoices/10482.pdf",
}
PICKUP = {
    "customer_name": "Ana",
    "order_number": "10482",
    "latitude": "52.3731",
    "longitude": "4.8922",
    "store_name": "Example Store Centrum",
    "store_address": "Dam 1, Amsterdam",
}


def _chat(http: aiohttp.ClientSession) -> Callable[[], Any]:
    async def fetch() -> list[dict[str, Any]]:
        async with http.get(f"/sandbox/users/{CUSTOMER}/messages") as response:
            return list((await response.json())["items"])

    return fetch


def _last_out(kind: str) -> Callable[[list[dict[str, Any]]], bool]:
    """Whether the bot's latest message is an interactive message of this kind."""

    def seen(items: list[dict[str, Any]]) -> bool:
        out = [i for i in items if i["direction"] == "out"]
        return bool(out) and (out[-1].get("interactive") or {}).get("type") == kind

    return seen


async def test_template_headers_reach_the_customer_as_a_document_and_a_place(service: str) -> None:
    """The invoice's PDF arrives as a document header by its URL; the pickup point as a place with its name."""
    async with aiohttp.ClientSession(service) as http:
        for template, parameters in (("order_invoice", INVOICE), ("pickup_ready", PICKUP)):
            body = {"wa_id": CUSTOMER, "template": template, "parameters": parameters}
            async with http.post("/api/notifications", json=body, headers=AUTH) as response:
                assert response.status in (200, 201, 202), await response.text()
        items = await poll(_chat(http), lambda items: len([i for i in items if i["template"]]) == 2)
    invoice, pickup = (i for i in items if i["template"])
    assert invoice["template"]["name"] == "order_invoice"
    assert invoice["media"]["kind"] == "document"
    assert (invoice["media"]["url"], invoice["media"]["filename"]) == (INVOICE["invoice_url"], "Invoice 10482.pdf")
    assert invoice["text"].startswith("[Document: Invoice 10482.pdf]\n\nThank you, Ana.")
    assert pickup["location"] == {
        "latitude": 52.3731,
        "longitude": 4.8922,
        "name": "Example Store Centrum",
        "address": "Dam 1, Amsterdam",
    }


async def test_the_stores_flow_sends_a_photo_header_a_location_request_and_a_link(service: str) -> None:
    """Stores: buttons under a photo; "The nearest one" asks for a location; the place shared picks the link."""
    async with aiohttp.ClientSession(service) as http:
        chat = _chat(http)
        path = f"/sandbox/users/{CUSTOMER}/messages"
        assert (await http.post(path, json={"text": "hi", "name": "Ana"})).status == 200
        await poll(chat, _last_out("list"))
        assert (await http.post(path, json={"list": "stores"})).status == 200
        items = await poll(chat, _last_out("button"))
        menu = items[-1]
        assert menu["interactive"]["header"] == {
            "type": "image",
            "image": {"link": "https://shop.example.com/images/stores.jpg"},
        }
        assert menu["media"]["kind"] == "image"
        assert menu["interactive"]["footer"] == {"text": "Open Monday to Saturday, 09:00 to 18:00"}
        assert (await http.post(path, json={"button": "nearest"})).status == 200
        items = await poll(chat, _last_out("location_request_message"))
        assert items[-1]["interactive"]["action"] == {"name": "send_location"}
        place = {"latitude": 52.3386, "longitude": 4.8735, "name": "Zuid station"}
        assert (await http.post(path, json={"location": place})).status == 200
        items = await poll(
            chat, lambda items: any(i["type"] == "interactive" and i["interactive"]["type"] == "cta_url" for i in items)
        )
    [link] = [i for i in items if i["type"] == "interactive" and i["interactive"]["type"] == "cta_url"]
    assert link["text"] == "Example Store Zuid is at Gustav Mahlerplein 1, Amsterdam."
    assert link["interactive"]["action"] == {
        "name": "cta_url",
        "parameters": {
            "display_text": "Open the map",
            "url": "https://www.openstreetmap.org/?mlat=52.3386&mlon=4.8735#map=17/52.3386/4.8735",
        },
    }
