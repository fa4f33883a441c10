"""A business's own system as the bot calls it: a tiny shop answering for orders and balances over HTTP.

Run it beside the service and copy `examples/endpoints.yaml` into the project folder (beside `flows/`):

    SHOP_ENDPOINT_SECRET=change-me python examples/shop_endpoint.py --port 8081
    SHOP_ENDPOINT_SECRET=change-me bot serve

The shipped orders and balance flows then read this shop instead of the service's own tables. Every
request is signed by the bot: `X-Bot-Signature: t=TIMESTAMP,v1=HEX`, HMAC-SHA256 with the shared secret
over ``TIMESTAMP.BODY`` (the body is empty for GET). A request without a good signature, or one more than
five minutes old, is refused. The customer's WhatsApp number comes as `wa_id`; a shop answers only with
that customer's own orders. The data here is a dictionary; a real shop asks its database.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import os
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aiohttp import web

TOLERANCE = 300  # seconds a signature's timestamp may be off

SAMPLE_ORDERS: dict[str, list[dict[str, Any]]] = {
    "31612345678": [
        {
            "number": "1042",
            "status": "shipped",
            "total": "€ 59.90",
            "tracking_number": "3SABC1234567",
            "delivery_date": "Tue 14 Apr",
            "window_start": "09:00",
            "window_end": "12:00",
        },
        {"number": "1017", "status": "delivered", "total": "€ 12.50"},
    ],
}
SAMPLE_ACCOUNTS: dict[str, dict[str, Any]] = {
    "31612345678": {"name": "Ana de Vries", "balance": "€ 42.10", "low": False},
}

SECRET: web.AppKey[bytes] = web.AppKey("secret", bytes)
ORDERS: web.AppKey[Mapping[str, list[dict[str, Any]]]] = web.AppKey("orders")
ACCOUNTS: web.AppKey[Mapping[str, dict[str, Any]]] = web.AppKey("accounts")


def signature_holds(header: str, secret: bytes, body: bytes, now: float) -> bool:
    """Whether `header` signs `body` with `secret`, at a time within `TOLERANCE` of `now` (Stripe's scheme)."""
    parts = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    stamp = parts.get("t", "")
    if not stamp.isdigit() or abs(now - int(stamp)) > TOLERANCE:
        return False
    expected = hmac.new(secret, stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, parts.get("v1", ""))


@web.middleware
async def signed_only(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Refuse anything the bot did not sign."""
    body = await request.read()
    if not signature_holds(request.headers.get("X-Bot-Signature", ""), request.app[SECRET], body, time.time()):
        return web.json_response({"error": "bad signature"}, status=401)
    return await handler(request)


async def recent_orders(request: web.Request) -> web.Response:
    """`orders.recent`: the customer's orders as choices, `{id, title, description}`, newest first."""
    orders = request.app[ORDERS].get(request.query.get("wa_id", ""), [])
    choices = [{"id": o["number"], "title": f"Order {o['number']}", "description": o["status"].title()} for o in orders]
    return web.json_response(choices)


async def lookup_order(request: web.Request) -> web.Response:
    """`orders.lookup`: the customer's own order with this number, or null."""
    number = request.query.get("number", "").strip().lstrip("#")
    orders = request.app[ORDERS].get(request.query.get("wa_id", ""), [])
    found = next((o for o in orders if o["number"] == number), None)
    return web.json_response(found)


async def balance(request: web.Request) -> web.Response:
    """`account.balance`: the customer's account, or null."""
    return web.json_response(request.app[ACCOUNTS].get(request.query.get("wa_id", "")))


def create_app(
    secret: str,
    orders: Mapping[str, list[dict[str, Any]]] = SAMPLE_ORDERS,
    accounts: Mapping[str, dict[str, Any]] = SAMPLE_ACCOUNTS,
) -> web.Application:
    app = web.Application(middlewares=[signed_only])
    app[SECRET], app[ORDERS], app[ACCOUNTS] = secret.encode(), orders, accounts
    app.router.add_get("/orders", recent_orders)
    app.router.add_get("/orders/lookup", lookup_order)
    app.router.add_get("/balance", balance)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    args = parser.parse_args()
    secret = os.environ.get("SHOP_ENDPOINT_SECRET")
    if not secret:
        raise SystemExit("set SHOP_ENDPOINT_SECRET to the secret the bot signs with")
    web.run_app(create_app(secret), host=args.host, port=args.port)


if __name__ == "__main__":
    main()
