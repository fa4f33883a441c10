"""The admin API under /api: bearer auth, the OpenAPI document, conversations, messages, contacts, /healthz."""

from __future__ import annotations

import asyncio
import io
import re
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from bot.app import create_app
from bot.inbound.dispatcher import ACK_TEXT, Acknowledger
from bot.inbound.webhook import MAX_BODY
from bot.settings import Settings
from bot.whatsapp.category import CATEGORIES
from bot.whatsapp.client import RecordingTransport
from tests.conftest import ADMIN_TOKEN, PHONE_NUMBER_ID, FakeClock, signed, status_webhook, text_webhook

Client = TestClient[web.Request, web.Application]
ClientFactory = Callable[..., Awaitable[Client]]

WA_ID = "31612345678"
OTHER_WA_ID = "447700900123"
MESSAGE_FIELDS = {"wamid", "direction", "type", "category", "status", "pricing", "created_at"}
CONVERSATION_FIELDS = {"id", "wa_id", "category", "origin", "opened_at", "expires_at"}
WAIT_SECONDS = 10.0
API_ROUTES = ["/api/conversations", "/api/messages", f"/api/contacts/{WA_ID}"]


# --- helpers (plain functions, shared with the log and metrics suites) ----------------------------------


async def start_app(
    aiohttp_client: ClientFactory, settings: Settings, clock: FakeClock, **kwargs: Any
) -> tuple[Client, RecordingTransport]:
    """The real app on the test database, sending through a transport that accepts every message.

    These suites are about the API, the webhook and the records, so customers' texts get the one-reply
    acknowledger unless a test passes its own handler; the flows have suites of their own.
    """
    transport = RecordingTransport()
    kwargs.setdefault("handler", Acknowledger())
    app = create_app(settings, clock=clock, transport=transport, migrate=True, **kwargs)
    return await aiohttp_client(app), transport


async def post_webhook(client: Client, payload: dict[str, Any]) -> None:
    body, headers = signed(payload)
    resp = await client.post("/webhook", data=body, headers=headers)
    assert resp.status == 200, await resp.text()


async def get_json(client: Client, path: str, auth: dict[str, str], **params: Any) -> Any:
    resp = await client.get(path, headers=auth, params=params)
    assert resp.status == 200, await resp.text()
    return await resp.json()


async def wait_until(check: Callable[[], Awaitable[Any]], *, what: str = "condition") -> Any:
    """Poll `check` until it returns something truthy; the dispatcher and sender run in the background."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT_SECONDS
    while True:
        result = await check()
        if result:
            return result
        if loop.time() > deadline:
            raise AssertionError(f"{what} not reached within {WAIT_SECONDS}s")
        await asyncio.sleep(0.02)


async def wait_for_replies(client: Client, auth: dict[str, str], wa_id: str, count: int = 1) -> list[dict[str, Any]]:
    """Wait until `count` outbound messages to `wa_id` are recorded, and return them (newest first)."""

    async def replies() -> list[dict[str, Any]] | None:
        items: list[dict[str, Any]] = (await get_json(client, "/api/messages", auth, wa_id=wa_id, direction="out"))[
            "items"
        ]
        return items if len(items) >= count else None

    result: list[dict[str, Any]] = await wait_until(replies, what=f"{count} replies to {wa_id}")
    return result


def assert_error(body: Any, code: str) -> str:
    """The documented error shape; returns the message."""
    assert set(body) == {"error"}
    assert set(body["error"]) in ({"code", "message"}, {"code", "message", "fields"})  # fields: a body checked whole
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str)
    assert body["error"]["message"]
    return str(body["error"]["message"])


def parse_time(value: str) -> datetime:
    moment = datetime.fromisoformat(value)
    assert moment.utcoffset() == timedelta(0), f"{value} is not UTC-aware"
    return moment


@pytest.fixture
async def client(aiohttp_client: ClientFactory, settings: Settings, clock: FakeClock) -> Client:
    started, _ = await start_app(aiohttp_client, settings, clock)
    return started


# --- authentication -----------------------------------------------------------------------------------


@pytest.mark.parametrize("path", API_ROUTES)
async def test_no_token_is_401_with_error_shape(client: Client, path: str) -> None:
    """Every /api route but the OpenAPI document answers 401 with the JSON error shape when no token is sent."""
    resp = await client.get(path)
    assert resp.status == 401
    assert resp.content_type == "application/json"
    assert_error(await resp.json(), "unauthorized")


@pytest.mark.parametrize(
    "header",
    [
        f"Bearer {ADMIN_TOKEN}x",
        f"Bearer {ADMIN_TOKEN[:-1]}",
        "Bearer ",
        f"Basic {ADMIN_TOKEN}",
        ADMIN_TOKEN,
        f"Token {ADMIN_TOKEN}",
    ],
    ids=["longer", "shorter", "empty", "basic-scheme", "no-scheme", "other-scheme"],
)
@pytest.mark.parametrize("path", API_ROUTES)
async def test_wrong_token_is_401(client: Client, path: str, header: str) -> None:
    """A wrong token, or the right one under another scheme, is refused with 401 and the error shape."""
    resp = await client.get(path, headers={"Authorization": header})
    assert resp.status == 401
    message = assert_error(await resp.json(), "unauthorized")
    assert ADMIN_TOKEN not in message


async def test_bearer_scheme_is_case_insensitive(client: Client) -> None:
    """`bearer` is accepted like `Bearer`, as HTTP auth schemes are case-insensitive."""
    resp = await client.get("/api/conversations", headers={"Authorization": f"bearer {ADMIN_TOKEN}"})
    assert resp.status == 200


async def test_unknown_api_path_answers_with_the_error_shape(client: Client, auth: dict[str, str]) -> None:
    """An unknown path under /api answers 404 in the documented JSON error shape, not aiohttp's text page."""
    resp = await client.get("/api/no-such-thing", headers=auth)
    assert resp.status == 404
    assert resp.content_type == "application/json"
    assert_error(await resp.json(), "not_found")


async def test_wrong_method_on_api_answers_with_the_error_shape(client: Client, auth: dict[str, str]) -> None:
    """A method an /api route does not support answers 405 in the documented JSON error shape."""
    resp = await client.delete("/api/messages", headers=auth)
    assert resp.status == 405
    assert resp.content_type == "application/json"
    body = await resp.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message"}


async def test_unknown_api_path_without_token_is_401(client: Client) -> None:
    """Without a token, even an unknown /api path answers 401, so the API's shape is not probed anonymously."""
    resp = await client.get("/api/no-such-thing")
    assert resp.status == 401


@pytest.mark.parametrize("with_token", [False, True], ids=["no-token", "token"])
async def test_the_bare_api_prefix_is_a_plain_404(client: Client, auth: dict[str, str], with_token: bool) -> None:
    """`/api` itself is none of the API's routes: the main app answers it with its plain-text 404, token or not."""
    resp = await client.get("/api", headers=auth if with_token else {})
    assert resp.status == 404
    assert resp.content_type == "text/plain"


async def test_another_method_on_the_openapi_path_is_405_without_a_token(client: Client) -> None:
    """The OpenAPI document's path needs no token for any method: a POST is a 405 in the error shape, not a 401."""
    resp = await client.post("/api/openapi.json")
    assert resp.status == 405
    assert resp.headers["Allow"] == "GET,HEAD"
    assert_error(await resp.json(), "method_not_allowed")


async def test_a_body_over_the_limit_is_413_in_the_error_shape(client: Client, auth: dict[str, str]) -> None:
    """A JSON body larger than the service accepts answers 413 in the API's error shape."""
    body = io.BytesIO(b'{"text": "' + b"x" * MAX_BODY + b'"}')  # a file: aiohttp warns of large bytes objects
    resp = await client.post("/api/notifications", data=body, headers={**auth, "Content-Type": "application/json"})
    assert resp.status == 413
    assert_error(await resp.json(), "request_entity_too_large")


# --- the OpenAPI document -----------------------------------------------------------------------------

HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


def _resolve(document: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), ref
    node: Any = document
    for part in ref[2:].split("/"):
        assert isinstance(node, dict), f"unresolved $ref {ref}"
        assert part in node, f"unresolved $ref {ref}"
        node = node[part]
    return node


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [r for value in node.values() for r in _refs(value)]
    if isinstance(node, list):
        return [r for value in node for r in _refs(value)]
    return []


def conforms(value: Any, schema: dict[str, Any], document: dict[str, Any], where: str = "$") -> list[str]:
    """The ways `value` breaks `schema`, for the JSON Schema subset the document uses."""
    if "$ref" in schema:
        return conforms(value, _resolve(document, schema["$ref"]), document, where)
    problems: list[str] = []
    if "enum" in schema and value not in schema["enum"]:
        problems.append(f"{where}: {value!r} not in {schema['enum']}")
    types = schema.get("type")
    if types is not None:
        allowed = types if isinstance(types, list) else [types]
        checks = {
            "string": lambda v: isinstance(v, str),
            "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
            "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
            "boolean": lambda v: isinstance(v, bool),
            "object": lambda v: isinstance(v, dict),
            "array": lambda v: isinstance(v, list),
            "null": lambda v: v is None,
        }
        if not any(checks[t](value) for t in allowed):
            return [*problems, f"{where}: {value!r} is not {allowed}"]
    if schema.get("format") == "date-time" and isinstance(value, str):
        try:
            parse_time(value)
        except (ValueError, AssertionError):
            problems.append(f"{where}: {value!r} is not a UTC date-time")
    if isinstance(value, str) and "pattern" in schema and not re.search(schema["pattern"], value):
        problems.append(f"{where}: {value!r} does not match {schema['pattern']}")
    if isinstance(value, dict):
        problems += [f"{where}: missing {key}" for key in schema.get("required", []) if key not in value]
        for key, sub in schema.get("properties", {}).items():
            if key in value:
                problems += conforms(value[key], sub, document, f"{where}.{key}")
    if isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            problems += conforms(item, schema["items"], document, f"{where}[{i}]")
    return problems


def response_schema(document: dict[str, Any], path: str, status: str = "200") -> dict[str, Any]:
    schema: dict[str, Any] = document["paths"][path]["get"]["responses"][status]["content"]["application/json"][
        "schema"
    ]
    return schema


async def fetch_openapi(client: Client) -> dict[str, Any]:
    resp = await client.get("/api/openapi.json")
    assert resp.status == 200
    assert resp.content_type == "application/json"
    document: dict[str, Any] = await resp.json()
    return document


async def test_openapi_is_public(client: Client) -> None:
    """The OpenAPI document is served without a token (and a wrong token does not hide it)."""
    await fetch_openapi(client)
    resp = await client.get("/api/openapi.json", headers={"Authorization": "Bearer wrong"})
    assert resp.status == 200


async def test_openapi_is_structurally_valid_3_1(client: Client) -> None:
    """The document is OpenAPI 3.1: info, paths, operations with responses, declared path params, resolvable refs."""
    document = await fetch_openapi(client)
    try:
        from openapi_spec_validator import validate  # type: ignore[import-not-found]
    except ImportError:
        validate = None
    if validate is not None:
        validate(document)
    assert re.fullmatch(r"3\.1\.\d+", document["openapi"])
    assert isinstance(document["info"]["title"], str)
    assert document["info"]["title"]
    assert isinstance(document["info"]["version"], str)
    assert document["info"]["version"]
    assert document["servers"] == [{"url": str(client.make_url("")).rstrip("/")}]
    schemes = document["components"]["securitySchemes"]
    for requirement in document.get("security", []):
        for name in requirement:
            assert schemes[name]["type"] in {"apiKey", "http", "oauth2", "openIdConnect", "mutualTLS"}
    assert schemes["bearer"] == {"type": "http", "scheme": "bearer"}
    for ref in _refs(document):
        _resolve(document, ref)
    for path, item in document["paths"].items():
        assert path.startswith("/")
        template_params = set(re.findall(r"{([^}]+)}", path))
        for method, operation in item.items():
            assert method in HTTP_METHODS, f"{path}: {method} is not an HTTP method"
            params = operation.get("parameters", [])
            keys = [(p["name"], p["in"]) for p in params]
            assert len(keys) == len(set(keys)), f"{method} {path}: duplicate parameters"
            for p in params:
                assert p["in"] in {"query", "header", "path", "cookie"}
                assert "schema" in p or "content" in p
                if p["in"] == "path":
                    assert p["required"] is True
            assert {name for name, where in keys if where == "path"} == template_params
            responses = operation["responses"]
            assert responses, f"{method} {path}: no responses"
            for status, response in responses.items():
                assert status == "default" or re.fullmatch(r"[1-5](\d\d|XX)", status)
                assert isinstance(response["description"], str)
            assert "nullable" not in str(operation)  # a 3.0 keyword; 3.1 uses type lists


async def test_openapi_lists_exactly_the_api_routes(client: Client) -> None:
    """The document describes every route the app serves under /api, and none it does not serve."""
    document = await fetch_openapi(client)
    served = {
        (route.resource.canonical, route.method.lower())
        for route in client.app.router.routes()
        if route.resource is not None
        and route.resource.canonical.startswith("/api/")
        and route.resource.canonical != "/api/openapi.json"
        and route.method != "HEAD"
    }
    documented = {
        (path, method)
        for path, item in document["paths"].items()
        if path != "/api/openapi.json"
        for method in item
        if method in HTTP_METHODS
    }
    assert documented == served


async def test_openapi_error_schema_matches_real_errors(client: Client) -> None:
    """The documented Error schema is the shape a real 401 answer has."""
    document = await fetch_openapi(client)
    resp = await client.get("/api/messages")
    body = await resp.json()
    schema = response_schema(document, "/api/messages", "401")
    assert conforms(body, schema, document) == []


# --- conversations and messages after a real webhook ---------------------------------------------------


async def test_inbound_and_reply_appear_in_messages(
    aiohttp_client: ClientFactory, settings: Settings, clock: FakeClock, auth: dict[str, str]
) -> None:
    """After a signed text webhook, /api/messages lists the inbound text and the reply with the documented fields."""
    client, transport = await start_app(aiohttp_client, settings, clock)
    sent_at = clock.now
    await post_webhook(client, text_webhook(WA_ID, "where is my order?", wamid="wamid.IN.1", name="Ana"))
    await wait_for_replies(client, auth, WA_ID)
    items = (await get_json(client, "/api/messages", auth))["items"]
    assert len(items) == 2
    reply, inbound = items  # newest first
    for item in items:
        assert set(item) >= MESSAGE_FIELDS
        assert item["wa_id"] == WA_ID
        parse_time(item["created_at"])
    assert inbound["wamid"] == "wamid.IN.1"
    assert inbound["direction"] == "in"
    assert inbound["type"] == "text"
    assert inbound["text"] == "where is my order?"
    assert inbound["status"] == "received"
    assert inbound["pricing"] is None
    assert reply["direction"] == "out"
    assert reply["type"] == "text"
    assert reply["text"] == ACK_TEXT.format(name=", Ana")
    assert reply["category"] == "service"
    assert reply["status"] == "accepted"
    assert reply["pricing"] is None
    assert parse_time(reply["created_at"]) == sent_at
    assert reply["wamid"] == "wamid.test.1"  # what the transport answered
    assert reply["id"] > inbound["id"]
    assert len(transport.requests) == 1
    assert transport.requests[0].url.endswith(f"/v25.0/{PHONE_NUMBER_ID}/messages")
    assert transport.requests[0].json["to"] == WA_ID


async def test_reply_opens_a_user_initiated_service_conversation(
    aiohttp_client: ClientFactory, settings: Settings, clock: FakeClock, auth: dict[str, str]
) -> None:
    """The reply to a customer's first message opens a service conversation, user-initiated, lasting 24 h."""
    client, _ = await start_app(aiohttp_client, settings, clock)
    await post_webhook(client, text_webhook(WA_ID, "hi"))
    replies = await wait_for_replies(client, auth, WA_ID)
    items = (await get_json(client, "/api/conversations", auth))["items"]
    assert len(items) == 1
    conversation = items[0]
    assert set(conversation) >= CONVERSATION_FIELDS
    assert conversation["wa_id"] == WA_ID
    assert conversation["category"] == "service"
    assert conversation["origin"] == "user_initiated"
    opened, expires = parse_time(conversation["opened_at"]), parse_time(conversation["expires_at"])
    assert opened == clock.now
    assert expires - opened == timedelta(hours=24)
    messages = (await get_json(client, "/api/messages", auth, direction="out"))["items"]
    assert messages[0]["conversation_id"] == conversation["id"] == replies[0]["conversation_id"]


async def test_responses_conform_to_the_openapi_document(
    aiohttp_client: ClientFactory, settings: Settings, clock: FakeClock, auth: dict[str, str]
) -> None:
    """Real list and contact responses match the schemas the OpenAPI document publishes for them."""
    client, _ = await start_app(aiohttp_client, settings, clock)
    await post_webhook(client, text_webhook(WA_ID, "hi"))
    await wait_for_replies(client, auth, WA_ID)
    document = await fetch_openapi(client)
    for path in ("/api/conversations", "/api/messages"):
        body = await get_json(client, path, auth)
        assert body["items"]
        assert conforms(body, response_schema(document, path), document) == []
    contact = await get_json(client, f"/api/contacts/{WA_ID}", auth)
    assert conforms(contact, response_schema(document, "/api/contacts/{wa_id}"), document) == []


async def test_status_webhook_pricing_shows_on_the_message(
    aiohttp_client: ClientFactory, settings: Settings, clock: FakeClock, auth: dict[str, str]
) -> None:
    """A delivered status with Meta's pricing object updates the outbound message's status and pricing."""
    client, _ = await start_app(aiohttp_client, settings, clock)
    await post_webhook(client, text_webhook(WA_ID, "hi"))
    (reply,) = await wait_for_replies(client, auth, WA_ID)
    pricing = {"billable": False, "pricing_model": "PMP", "category": "service", "type": "free_customer_service"}
    await post_webhook(client, status_webhook(reply["wamid"], "delivered", recipient=WA_ID, pricing=pricing))
    (updated,) = (await get_json(client, "/api/messages", auth, direction="out"))["items"]
    assert updated["wamid"] == reply["wamid"]
    assert updated["status"] == "delivered"
    assert updated["pricing"] == pricing
    assert updated["delivered_at"] is not None


async def test_filters_select_by_contact_category_and_direction(
    aiohttp_client: ClientFactory, settings: Settings, clock: FakeClock, auth: dict[str, str]
) -> None:
    """wa_id, category and direction filters return only the matching rows."""
    client, _ = await start_app(aiohttp_client, settings, clock)
    await post_webhook(client, text_webhook(WA_ID, "one", wamid="wamid.A"))
    await post_webhook(client, text_webhook(OTHER_WA_ID, "two", wamid="wamid.B", name="Bo"))
    await wait_for_replies(client, auth, WA_ID)
    await wait_for_replies(client, auth, OTHER_WA_ID)

    mine = (await get_json(client, "/api/messages", auth, wa_id=WA_ID))["items"]
    assert len(mine) == 2
    assert {m["wa_id"] for m in mine} == {WA_ID}
    inbound = (await get_json(client, "/api/messages", auth, direction="in"))["items"]
    assert {m["wamid"] for m in inbound} == {"wamid.A", "wamid.B"}
    assert {m["direction"] for m in inbound} == {"in"}
    mine_out = (await get_json(client, "/api/messages", auth, wa_id=WA_ID, direction="out"))["items"]
    assert len(mine_out) == 1
    assert mine_out[0]["direction"] == "out"

    service = (await get_json(client, "/api/conversations", auth, category="service"))["items"]
    assert {c["wa_id"] for c in service} == {WA_ID, OTHER_WA_ID}
    for category in CATEGORIES:
        if category != "service":
            assert (await get_json(client, "/api/conversations", auth, category=category))["items"] == []
    theirs = (await get_json(client, "/api/conversations", auth, wa_id=OTHER_WA_ID))["items"]
    assert [c["wa_id"] for c in theirs] == [OTHER_WA_ID]
    assert (await get_json(client, "/api/conversations", auth, wa_id="15550001111"))["items"] == []
    assert (await get_json(client, "/api/messages", auth, wa_id="15550001111"))["items"] == []


@pytest.mark.parametrize(
    ("path", "params", "mentions"),
    [
        ("/api/conversations", {"category": "promotional"}, "promotional"),
        ("/api/conversations", {"category": "SERVICE"}, "SERVICE"),
        ("/api/conversations", {"wa_id": "+31612345678"}, "wa_id"),
        ("/api/conversations", {"wa_id": "abc"}, "wa_id"),
        ("/api/messages", {"direction": "sideways"}, "sideways"),
        ("/api/messages", {"direction": ""}, "direction"),
        ("/api/messages", {"wa_id": "12345"}, "wa_id"),
        ("/api/messages", {"wa_id": "1234567890123456"}, "wa_id"),
        ("/api/messages", {"limit": "0"}, "limit"),
        ("/api/messages", {"limit": "1001"}, "limit"),
        ("/api/messages", {"limit": "ten"}, "limit"),
        ("/api/conversations", {"limit": "-1"}, "limit"),
        ("/api/conversations", {"before": "yesterday"}, "before"),
    ],
)
async def test_bad_filter_values_are_400_with_a_message(
    client: Client, auth: dict[str, str], path: str, params: dict[str, str], mentions: str
) -> None:
    """A filter or paging value the API cannot use is a 400 whose message names the offending parameter or value."""
    resp = await client.get(path, headers=auth, params=params)
    assert resp.status == 400
    message = assert_error(await resp.json(), "invalid_request")
    assert mentions in message


async def test_limit_and_before_page_through_messages(
    aiohttp_client: ClientFactory, settings: Settings, clock: FakeClock, auth: dict[str, str]
) -> None:
    """`limit` caps a page and `next_before` fetches the next, newest first, until `next_before` is null."""
    client, _ = await start_app(aiohttp_client, settings, clock, roles={"web"})
    for n in range(5):
        await post_webhook(client, text_webhook(WA_ID, f"message {n}", wamid=f"wamid.page.{n}"))
    seen: list[str] = []
    before: int | None = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 2}
        if before is not None:
            params["before"] = before
        page = await get_json(client, "/api/messages", auth, **params)
        assert len(page["items"]) <= 2
        ids = [m["id"] for m in page["items"]]
        assert ids == sorted(ids, reverse=True)
        seen += [m["wamid"] for m in page["items"]]
        pages += 1
        before = page["next_before"]
        if before is None:
            break
        assert before == ids[-1]
    assert seen == [f"wamid.page.{n}" for n in reversed(range(5))]
    assert pages == 3
    whole = await get_json(client, "/api/messages", auth)
    assert whole["next_before"] is None
    assert len(whole["items"]) == 5


async def test_limit_and_before_page_through_conversations(
    aiohttp_client: ClientFactory, settings: Settings, clock: FakeClock, auth: dict[str, str]
) -> None:
    """Conversations page the same way: newest first, `before` excludes ids at or above it."""
    client, _ = await start_app(aiohttp_client, settings, clock)
    numbers = ["31600000001", "31600000002", "31600000003"]
    for number in numbers:
        await post_webhook(client, text_webhook(number, "hi"))
    for number in numbers:
        await wait_for_replies(client, auth, number)
    first = await get_json(client, "/api/conversations", auth, limit=2)
    assert len(first["items"]) == 2
    assert first["next_before"] == first["items"][-1]["id"]
    second = await get_json(client, "/api/conversations", auth, limit=2, before=first["next_before"])
    assert len(second["items"]) == 1
    assert second["next_before"] is None
    assert {c["wa_id"] for c in first["items"] + second["items"]} == set(numbers)
    assert second["items"][0]["id"] < first["items"][-1]["id"]


async def test_lists_are_empty_items_on_a_fresh_database(client: Client, auth: dict[str, str]) -> None:
    """On an empty database the lists answer 200 with no items and no next page."""
    for path in ("/api/conversations", "/api/messages"):
        assert await get_json(client, path, auth) == {"items": [], "next_before": None}


# --- contacts -----------------------------------------------------------------------------------------


async def test_contact_found_after_a_message(
    aiohttp_client: ClientFactory, settings: Settings, clock: FakeClock, auth: dict[str, str]
) -> None:
    """A customer who wrote is a contact with their profile name, tags and a consent state."""
    client, _ = await start_app(aiohttp_client, settings, clock, roles={"web"})
    await post_webhook(client, text_webhook(WA_ID, "hi", name="Ana"))
    contact = await get_json(client, f"/api/contacts/{WA_ID}", auth)
    assert contact["wa_id"] == WA_ID
    assert contact["name"] == "Ana"
    assert contact["tags"] == []
    assert isinstance(contact["consent"], dict)
    assert contact["last_inbound_at"] is not None
    parse_time(contact["last_inbound_at"])
    assert "id" not in contact


async def test_unknown_contact_is_404(client: Client, auth: dict[str, str]) -> None:
    """A well-formed number nobody wrote from is a 404 in the error shape."""
    resp = await client.get("/api/contacts/15550001111", headers=auth)
    assert resp.status == 404
    assert "15550001111" in assert_error(await resp.json(), "not_found")


@pytest.mark.parametrize("wa_id", ["abc", "+31612345678", "12345", "1234567890123456", "3161234567x"])
async def test_invalid_contact_wa_id_is_400(client: Client, auth: dict[str, str], wa_id: str) -> None:
    """A path segment that is not 6 to 15 digits is a 400 naming wa_id, not a 404."""
    resp = await client.get(f"/api/contacts/{wa_id}", headers=auth)
    assert resp.status == 400
    assert "wa_id" in assert_error(await resp.json(), "invalid_request")


# --- health -------------------------------------------------------------------------------------------


async def test_healthz_reports_the_database(client: Client, settings: Settings) -> None:
    """/healthz answers 200 with the database ok and the mode, and needs no token."""
    resp = await client.get("/healthz")
    assert resp.status == 200
    body = await resp.json()
    assert body == {"status": "ok", "database": "ok", "sandbox": settings.sandbox}


async def test_responses_carry_a_request_id(client: Client, auth: dict[str, str]) -> None:
    """Every response carries X-Request-Id, echoing the caller's when one was sent."""
    resp = await client.get("/api/messages", headers={**auth, "X-Request-Id": "req-from-caller"})
    assert resp.headers["X-Request-Id"] == "req-from-caller"
    resp = await client.get("/healthz")
    assert re.fullmatch(r"[0-9a-f]{16}", resp.headers["X-Request-Id"])
