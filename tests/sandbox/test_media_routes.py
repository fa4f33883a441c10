"""Specification of the sandbox's media routes: Meta's media endpoints, and files and locations the customer sends."""

from __future__ import annotations

import base64
import hashlib
import io
from typing import Any

import aiohttp

from bot.whatsapp.message_body import media_message
from tests.media.pictures import png
from tests.sandbox.test_app import ALICE, AUTH, PHONE_ID, Sandbox, make_sandbox, sandbox

__all__ = ["make_sandbox", "sandbox"]  # the fixtures, shared with tests/sandbox/test_app.py
MEDIA_PATH = f"/sandbox/v25.0/{PHONE_ID}/media"


def _form(data: bytes, mime: str, filename: str, **fields: str) -> aiohttp.FormData:
    form = aiohttp.FormData()
    for name, value in fields.items():
        form.add_field(name, value)
    form.add_field("file", io.BytesIO(data), content_type=mime, filename=filename)
    return form


async def test_upload_then_url_then_download_with_the_token_then_delete_as_meta_does(sandbox: Sandbox) -> None:
    """An upload answers an id; GET id answers a five-minute URL that needs the bearer token; DELETE forgets it."""
    photo = png(seed=9)
    http = sandbox.client
    refused = await http.post(MEDIA_PATH, data=_form(photo, "image/png", "a.png", messaging_product="whatsapp"))
    assert refused.status == 401
    resp = await http.post(
        MEDIA_PATH, data=_form(photo, "image/png", "a.png", messaging_product="whatsapp"), headers=AUTH
    )
    assert resp.status == 200
    media_id = (await resp.json())["id"]

    info = await (await http.get(f"/sandbox/v25.0/{media_id}", headers=AUTH)).json()
    assert {k: info[k] for k in ("messaging_product", "mime_type", "sha256", "file_size", "id")} == {
        "messaging_product": "whatsapp", "mime_type": "image/png", "sha256": hashlib.sha256(photo).hexdigest(),
        "file_size": str(len(photo)), "id": media_id,
    }  # fmt: skip
    url = info["url"]
    assert (await http.session.get(url)).status == 401  # no token, no file
    async with http.session.get(url, headers=AUTH) as download:
        assert download.status == 200
        assert download.content_type == "image/png"
        assert await download.read() == photo

    fresh = (await (await http.get(f"/sandbox/v25.0/{media_id}", headers=AUTH)).json())["url"]
    assert (await http.session.get(url, headers=AUTH)).status == 404  # a new URL replaces the old one
    sandbox.clock.advance(minutes=6)
    assert (await http.session.get(fresh, headers=AUTH)).status == 404  # expired after five minutes

    deleted = await http.delete(f"/sandbox/v25.0/{media_id}", headers=AUTH)
    assert await deleted.json() == {"success": True}
    gone = await http.get(f"/sandbox/v25.0/{media_id}", headers=AUTH)
    assert gone.status == 400
    assert (await gone.json())["error"]["code"] == 100


async def test_a_customer_file_and_location_reach_the_webhook_as_meta_sends_them(sandbox: Sandbox) -> None:
    """A photo becomes an image message naming its media id and base64 SHA-256; a location keeps its numbers."""
    photo = png(seed=4)
    form = _form(photo, "image/png", "crushed.png", caption="Crushed box")
    resp = await sandbox.client.post(f"/sandbox/users/{ALICE}/media", data=form)
    assert resp.status == 200, await resp.text()
    message: dict[str, Any] = sandbox.hook.messages()[-1]
    assert message["type"] == "image"
    image = message["image"]
    assert image["caption"] == "Crushed box"
    assert image["sha256"] == base64.b64encode(hashlib.sha256(photo).digest()).decode()
    assert sandbox.state.shelf.get(image["id"]).data == photo

    _, chat = await sandbox.chat(ALICE)
    shown = chat["items"][-1]["media"]
    assert (shown["kind"], shown["url"], shown["caption"]) == ("image", f"/sandbox/files/{image['id']}", "Crushed box")
    page_file = await sandbox.client.get(shown["url"])
    assert await page_file.read() == photo
    svg = _form(b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>", "image/svg+xml", "x.svg")
    await sandbox.client.post(f"/sandbox/users/{ALICE}/media", data=svg)
    _, chat = await sandbox.chat(ALICE)
    served = await sandbox.client.get(chat["items"][-1]["media"]["url"])
    assert served.headers["Content-Disposition"].startswith("attachment")  # never shown as a page of this site
    assert "sandbox" in served.headers["Content-Security-Policy"]

    status, _ = await sandbox.customer(ALICE, {"location": {"latitude": "52.3791", "longitude": 4.9003, "name": "CS"}})
    assert status == 200
    assert sandbox.hook.messages()[-1]["location"] == {"latitude": 52.3791, "longitude": 4.9003, "name": "CS"}
    status, body = await sandbox.customer(ALICE, {"location": {"latitude": 91, "longitude": 0}})
    assert status == 400
    assert "location.latitude must be a number from -90 to 90" in body["error"]["message"]

    document = _form(b"PK\x03\x04", "application/zip", "files.zip")
    assert (await sandbox.client.post(f"/sandbox/users/{ALICE}/media", data=document)).status == 200
    sent = sandbox.hook.messages()[-1]
    assert (sent["type"], sent["document"]["filename"], sent["document"]["mime_type"]) == (
        "document", "files.zip", "application/zip",
    )  # fmt: skip
    no_file = await sandbox.client.post(f"/sandbox/users/{ALICE}/media", json={"caption": "x"})
    assert no_file.status == 400


async def test_a_file_sent_by_an_id_the_sandbox_does_not_hold_is_refused_with_131053(sandbox: Sandbox) -> None:
    """As Meta answers for an id it never issued or has dropped: 131053, and nothing shows in the chat."""
    await sandbox.customer(ALICE, {"text": "hi"})
    upload = await sandbox.client.post(
        MEDIA_PATH, data=_form(png(seed=2), "image/png", "a.png", messaging_product="whatsapp"), headers=AUTH
    )
    media_id = (await upload.json())["id"]
    status, body = await sandbox.send(media_message(ALICE, "image", media_id=media_id, caption="Kept"))
    assert status == 200, body
    await sandbox.client.delete(f"/sandbox/v25.0/{media_id}", headers=AUTH)
    status, body = await sandbox.send(media_message(ALICE, "image", media_id=media_id))
    assert status == 400
    assert body["error"]["code"] == 131053
    linked = media_message(ALICE, "document", link="https://shop.example/a.pdf", filename="a.pdf")
    assert (await sandbox.send(linked))[0] == 200  # a link is Meta's to fetch: accepted
    _, chat = await sandbox.chat(ALICE)
    shown = [item["media"] for item in chat["items"] if item["direction"] == "out"]
    assert [(m["kind"], m.get("id"), m.get("link"), m.get("filename")) for m in shown] == [
        ("image", media_id, None, "a.png"),
        ("document", None, "https://shop.example/a.pdf", "a.pdf"),
    ]
