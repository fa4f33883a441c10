"""Rows the database typed, as their Base models, without pydantic validating every value a second time.

The sender reads a batch of outbox rows, their contacts and their open conversations for every quarter
second of sends; `model_validate` re-checked each value the driver had already typed, and copied every
payload, at about a tenth of the sender's CPU per message. A row read whole (`select(TABLE)`, or
`RETURNING` every column) holds every field of its Base model, so it can be taken as it is.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from sqlmodel import SQLModel

M = TypeVar("M", bound=SQLModel)

_new = object.__new__
_set = object.__setattr__


def model_of(cls: type[M], row: Mapping[Any, Any]) -> M:
    """`row` as a `cls` (a Base model, not a table); validated as usual when it lacks any of its fields."""
    values = dict(row)
    if values.keys() != cls.model_fields.keys():
        return cls.model_validate(values)
    # What pydantic's `model_construct` does for a complete set of values, without its per-field walk.
    model = _new(cls)
    _set(model, "__dict__", values)
    _set(model, "__pydantic_fields_set__", set(values))
    _set(model, "__pydantic_extra__", None)
    _set(model, "__pydantic_private__", None)
    return model
