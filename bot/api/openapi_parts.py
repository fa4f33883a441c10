"""The building blocks every resource's part of the OpenAPI document uses: references, parameters, answers."""

from __future__ import annotations

from typing import Any


def ref(name: str) -> dict[str, str]:
    """A reference to one of the document's component schemas."""
    return {"$ref": f"#/components/schemas/{name}"}


def query(name: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
    """An optional query parameter."""
    return {"name": name, "in": "query", "required": False, "description": description, "schema": schema}


ERRORS = {
    "400": {"description": "Invalid request", "content": {"application/json": {"schema": ref("Error")}}},
    "401": {"description": "Missing or wrong bearer token", "content": {"application/json": {"schema": ref("Error")}}},
    "429": {
        "description": "Too many wrong bearer tokens from this address in a minute; see Retry-After",
        "content": {"application/json": {"schema": ref("Error")}},
    },
}
PAGING = [
    query("limit", "Page size (1-1000, default 100)", {"type": "integer", "minimum": 1, "maximum": 1000}),
    query("before", "Return rows with an id below this (the previous page's next_before)", {"type": "integer"}),
]
WA_ID = {"type": "string", "pattern": r"^\d{6,15}$", "description": "E.164 digits without +"}
TIME = {"type": "string", "format": "date-time"}
OPT_TIME = {"type": ["string", "null"], "format": "date-time"}


def list_of(name: str) -> dict[str, Any]:
    """A page of a component schema's items, with the cursor to the next page."""
    return page(ref(name))


def page(item: dict[str, Any], cursor: str = "next_before") -> dict[str, Any]:
    """A page of `item`s and the cursor to the next page: a row id (`next_before`), or a key (`next_after`)."""
    cursor_schema = {"type": ["integer", "null"]} if cursor == "next_before" else {"type": ["string", "null"]}
    return {
        "type": "object",
        "required": ["items", cursor],
        "properties": {"items": {"type": "array", "items": item}, cursor: cursor_schema},
    }


def ok(schema: dict[str, Any], description: str) -> dict[str, Any]:
    """The responses of an operation that answers 200 with `schema`, and the errors every operation has."""
    return {"200": {"description": description, "content": {"application/json": {"schema": schema}}}, **ERRORS}


ERROR: dict[str, Any] = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string", "description": "The first problem (of fields, when there are fields)"},
                "fields": {
                    "type": "array",
                    "description": "Every wrong field of a body checked whole, e.g. items[3].wa_id",
                    "items": {
                        "type": "object",
                        "required": ["field", "message"],
                        "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
                    },
                },
            },
        }
    },
}


def json_body(schema: dict[str, Any]) -> dict[str, Any]:
    """A required JSON request body."""
    return {"required": True, "content": {"application/json": {"schema": schema}}}


NOT_FOUND = {"description": "Unknown record", "content": {"application/json": {"schema": ref("Error")}}}


def created(schema: dict[str, Any], description: str, status: str = "201") -> dict[str, Any]:
    """The responses of an operation that answers `status` (201 unless given) with `schema`, and the errors."""
    return {status: {"description": description, "content": {"application/json": {"schema": schema}}}, **ERRORS}
