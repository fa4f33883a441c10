"""`/api/numbers`: the business numbers the deployment serves: list, add, read and change them.

Numbers from numbers.yaml are written again from the file at each start; a change made here to one of them
lasts until then (the file is the project's record). Every process reads the table every few seconds, so
a number added here is served by every instance within a beat.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from bot import keys
from bot.api.model import validated
from bot.api.number_model import NumberChange, NumberCreate, NumberPage, PhoneNumber
from bot.api.request import json_body, json_response
from bot.errors import Conflict, NotFound, ValidationError
from bot.field import whole_number
from bot.numbers.number import NUMBERS, check_id
from storage import numbers
from storage.models import PhoneNumberBase

REQUIRED_WHEN_GIVEN = ("display_number", "throughput", "tier")


def _shown(row: PhoneNumberBase, default: str) -> dict[str, Any]:
    values = row.model_dump()
    values["tier"] = "unlimited" if row.tier is None else row.tier
    return PhoneNumber.model_validate({**values, "default": row.id == default}).model_dump()


def _stored(values: dict[str, Any]) -> dict[str, Any]:
    if "tier" in values:
        values["tier"] = None if values["tier"] == "unlimited" else values["tier"]
    return values


def _number_id(request: web.Request) -> str:
    try:
        return check_id(request.match_info["id"])
    except ValueError as exc:
        raise ValidationError(f"the number id {exc}") from None


async def list_numbers(request: web.Request) -> web.Response:
    """`GET /api/numbers`: a page of numbers in id order (`?limit=` 1 to 1000, `?after=<id>`)."""
    limit = whole_number(request.query.get("limit", "100"), "limit", 1, 1000)
    after = request.query.get("after")
    if after is not None:
        try:
            check_id(after)
        except ValueError as exc:
            raise ValidationError(f"after {exc}") from None
    async with request.config_dict[keys.REPOSITORY].reading() as conn:
        rows = await numbers.list_numbers(conn, limit=limit, after=after)
    default = request.config_dict[NUMBERS].default.id
    following = rows[-1].id if len(rows) == limit else None
    page = NumberPage.model_validate({"items": [_shown(r, default) for r in rows], "next_after": following})
    return json_response(page.model_dump())


async def create_number(request: web.Request) -> web.Response:
    """`POST /api/numbers`: serve one more number (201); 409 when its id is served already."""
    given = validated(NumberCreate, await json_body(request))
    config = request.config_dict
    async with config[keys.REPOSITORY].transaction() as conn:
        row = await numbers.add_number(conn, _stored(given.model_dump()), config[keys.CLOCK]())
    if row is None:
        raise Conflict(f"number {given.id} is served already; change it with PATCH /api/numbers/{given.id}")
    await config[NUMBERS].refresh(config[keys.REPOSITORY])
    return json_response(_shown(row, config[NUMBERS].default.id), 201)


async def get_number(request: web.Request) -> web.Response:
    number_id = _number_id(request)
    async with request.config_dict[keys.REPOSITORY].reading() as conn:
        row = await numbers.number_by_id(conn, number_id)
    if row is None:
        raise NotFound(f"no number {number_id}")
    return json_response(_shown(row, request.config_dict[NUMBERS].default.id))


async def change_number(request: web.Request) -> web.Response:
    """`PATCH /api/numbers/{id}`: change the values given; null clears account_id, token_env or main_flow."""
    number_id = _number_id(request)
    given = validated(NumberChange, await json_body(request)).model_dump(exclude_unset=True)
    for name in REQUIRED_WHEN_GIVEN:
        if name in given and given[name] is None:
            raise ValidationError(f"{name} cannot be null: every number has one")
    config = request.config_dict
    async with config[keys.REPOSITORY].transaction() as conn:
        row = await numbers.change_number(conn, number_id, _stored(given), config[keys.CLOCK]())
    if row is None:
        raise NotFound(f"no number {number_id}")
    await config[NUMBERS].refresh(config[keys.REPOSITORY])
    return json_response(_shown(row, config[NUMBERS].default.id))


routes = (
    web.get("/numbers", list_numbers),
    web.post("/numbers", create_number),
    web.get("/numbers/{id}", get_number),
    web.patch("/numbers/{id}", change_number),
)
