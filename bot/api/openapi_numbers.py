"""The business numbers part of the OpenAPI document (`bot.api.openapi` joins it in)."""

from __future__ import annotations

from typing import Any

from bot.api.number_model import NumberChange, NumberCreate, NumberPage, PhoneNumber
from bot.api.openapi_parts import NOT_FOUND, PAGING, created, error_answer, json_body, ok, path, query, ref

MODELS = (NumberCreate, NumberChange)  # request bodies
ANSWERS = (PhoneNumber, NumberPage)  # answer bodies
NUMBER_ID = path("id", {"type": "string", "pattern": r"^[0-9]{1,32}$"})

PATHS: dict[str, Any] = {
    "/api/numbers": {
        "get": {
            "summary": "The business numbers served, in id order, a page at a time",
            "parameters": [PAGING[0], query("after", "The previous page's `next_after`", {"type": "string"})],
            "responses": ok(ref("NumberPage"), "A page of numbers"),
        },
        "post": {
            "summary": "Serve one more business number",
            "description": "Every instance serves it within a few seconds. Its token is read from the "
            "environment variable `token_env` names, never sent here.",
            "requestBody": json_body(ref("NumberCreate")),
            "responses": {
                **created(ref("PhoneNumber"), "The number"),
                "409": error_answer("The number is served already"),
            },
        },
    },
    "/api/numbers/{id}": {
        "get": {
            "summary": "One business number",
            "parameters": NUMBER_ID,
            "responses": {**ok(ref("PhoneNumber"), "The number"), "404": NOT_FOUND},
        },
        "patch": {
            "summary": "Change a business number's values",
            "description": "A number from numbers.yaml is written from the file again at the next start.",
            "parameters": NUMBER_ID,
            "requestBody": json_body(ref("NumberChange")),
            "responses": {**ok(ref("PhoneNumber"), "The changed number"), "404": NOT_FOUND},
        },
    },
}
