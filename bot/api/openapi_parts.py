"""The building blocks every resource's part of the OpenAPI document uses: references, parameters, answers.

Bodies are never written here: every request and answer body is a Pydantic model (the `*_model` modules),
referenced by name; what is left is the document's own wording, the parameters and the statuses.
"""

from __future__ import annotations

from typing import Any


def ref(name: str) -> dict[str, str]:
    """A reference to one of the document's component schemas (a model's name)."""
    return {"$ref": f"#/components/schemas/{name}"}


def query(name: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
    """An optional query parameter."""
    return {"name": name, "in": "query", "required": False, "description": description, "schema": schema}


def path(name: str, schema: dict[str, Any]) -> list[dict[str, Any]]:
    """An operation's one path parameter."""
    return [{"name": name, "in": "path", "required": True, "schema": schema}]


def answer(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    """One response: a JSON body of `schema`."""
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def error_answer(description: str) -> dict[str, Any]:
    """One error response: the API's error body."""
    return answer(description, ref("Error"))


ERRORS = {
    "400": error_answer("Invalid request"),
    "401": error_answer("Missing or wrong bearer token"),
    "429": error_answer("Too many wrong bearer tokens from this address in a minute; see Retry-After"),
}
NOT_FOUND = error_answer("Unknown record")
WA_ID = {"type": "string", "pattern": r"^\d{6,15}$", "description": "E.164 digits without +"}
ID = path("id", {"type": "integer", "minimum": 1})
PAGING = [
    query("limit", "Page size (1-1000, default 100)", {"type": "integer", "minimum": 1, "maximum": 1000}),
    query("before", "Return rows with an id below this (the previous page's next_before)", {"type": "integer"}),
]


def ok(schema: dict[str, Any], description: str) -> dict[str, Any]:
    """The responses of an operation that answers 200 with `schema`, and the errors every operation has."""
    return {"200": answer(description, schema), **ERRORS}


def created(schema: dict[str, Any], description: str, status: str = "201") -> dict[str, Any]:
    """The responses of an operation that answers `status` (201 unless given) with `schema`, and the errors."""
    return {status: answer(description, schema), **ERRORS}


def json_body(schema: dict[str, Any]) -> dict[str, Any]:
    """A required JSON request body."""
    return {"required": True, "content": {"application/json": {"schema": schema}}}
