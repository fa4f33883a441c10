"""Request bodies checked against the Pydantic models that also write their part of the OpenAPI document.

`validated` checks a body (already read by `bot.field.read_json`, so NUL, lone surrogates and depth are
refused before) against a model and reports every wrong field at once; `components` turns models into
the document's component schemas, so what is published and what is checked are the same code. `Error` is
the shape of every error answer; a missing field is "<field> is required", an unknown one "is not a field of
this request" (and `timezone` is told that the API's name is `time_zone`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Literal, TypeVar

import pydantic
from pydantic import Field

from bot.errors import FieldError, ValidationError

Model = TypeVar("Model", bound=pydantic.BaseModel)
REF = "#/components/schemas/{model}"


class Body(pydantic.BaseModel):
    """A request body: exact JSON types (no "1" for 1), and a field the API does not know is an error."""

    model_config = pydantic.ConfigDict(extra="forbid", strict=True, frozen=True)


def said(message: str) -> pydantic.WrapValidator:
    """A validator answering `message` for any wrong value: the API's own words, where tests and people rely on them."""

    def check(value: Any, handler: pydantic.ValidatorFunctionWrapHandler) -> Any:
        try:
            return handler(value)
        except pydantic.ValidationError:
            raise ValueError(message) from None

    return pydantic.WrapValidator(check)


def validated(model: type[Model], body: Mapping[str, Any]) -> Model:
    """`body` as `model`, or a `ValidationError` listing every wrong field, the first one as its message."""
    try:
        return model.model_validate(body)
    except pydantic.ValidationError as exc:
        fields = [FieldError(field_path(e["loc"]), _message(e)) for e in exc.errors(include_url=False)]
        first = fields[0]
        said = first.message if first.message.startswith(f"{first.field} ") else f"{first.field}: {first.message}"
        raise ValidationError(said, fields=fields) from None


class FieldProblem(pydantic.BaseModel):
    field: str = Field(description="Where, e.g. items[3].wa_id")
    message: str


class ErrorDetail(pydantic.BaseModel):
    code: str = Field(description="invalid_request, not_found, conflict, unauthorized, internal_error, ...")
    message: str = Field(description="The first problem (of fields, when there are fields)")
    fields: list[FieldProblem] | None = Field(None, description="Every wrong field of a body checked whole")


class Error(pydantic.BaseModel):
    """Every error answer of the API; a 500 adds the request id to quote."""

    error: ErrorDetail
    request_id: str | None = Field(None, description="With internal_error: the id the service logged it under")


def field_path(loc: Iterable[int | str]) -> str:
    """Pydantic's location as the API names a field: `items[3].wa_id`."""
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or "the body"


def _message(error: Any) -> str:
    if error["type"] == "missing":
        return f"{field_path(error['loc'])} is required"
    if error["type"] == "extra_forbidden":
        if error["loc"][-1] == "timezone":
            return "is not a field of this request: a time zone is time_zone, everywhere in the API"
        return "is not a field of this request"
    return str(error["msg"]).removeprefix("Value error, ")


def components(
    models: Iterable[type[pydantic.BaseModel]], mode: Literal["validation", "serialization"]
) -> dict[str, Any]:
    """The component schemas of `models` and of every model they use, referenced as `#/components/schemas/Name`."""
    schemas: dict[str, Any] = {}
    for model in models:
        schema = model.model_json_schema(ref_template=REF, mode=mode)
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
    return schemas
