"""The bodies of `/api/numbers` as Pydantic models: checked with them, answered with them, shown by them.

Each field is checked by the same function that checks it in numbers.yaml (`bot.numbers.number`), so the file and
the API refuse the same values in the same words.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, Literal

import pydantic
from pydantic import Field

from bot.api.model import Body
from bot.numbers.number import (
    DISPLAY_PATTERN,
    ENV_PATTERN,
    FLOW_PATTERN,
    ID_PATTERN,
    check_account_id,
    check_display_number,
    check_id,
    check_main_flow,
    check_throughput,
    check_tier,
    check_token_env,
)


def _by(check: Callable[[Any], Any]) -> pydantic.WrapValidator:
    """`check` first (its words are the answer), then the type's own validation."""

    def run(value: Any, handler: pydantic.ValidatorFunctionWrapHandler) -> Any:
        return handler(check(value))

    return pydantic.WrapValidator(run)


NumberId = Annotated[str, Field(pattern=ID_PATTERN, description="Meta's phone_number_id"), _by(check_id)]
Display = Annotated[str, Field(pattern=DISPLAY_PATTERN, examples=["+31 20 123 4567"]), _by(check_display_number)]
AccountId = Annotated[
    str | None, Field(pattern=ID_PATTERN, description="The WhatsApp Business Account (WABA) id"), _by(check_account_id)
]
TokenEnv = Annotated[
    str | None,
    Field(pattern=ENV_PATTERN, description="The environment variable holding its access token; "
          "unset: WHATSAPP_ACCESS_TOKEN. The token itself is never sent to or shown by the API"),
    _by(check_token_env),
]  # fmt: skip
Throughput = Annotated[
    int, Field(ge=1, le=1000, description="Messages per second Meta allows it"), _by(check_throughput)
]


def _tier(value: Any) -> Any:
    if value is None:
        raise ValueError("must be one of Meta's tiers or unlimited, not null")
    return "unlimited" if check_tier(value) is None else value


Tier = Annotated[
    Literal[250, 2000, 10000, 100000, "unlimited"],
    Field(description="Meta's messaging-limit tier: unique users reached outside a window per 24 h"),
    _by(_tier),
]
MainFlow = Annotated[
    str | None, Field(pattern=FLOW_PATTERN, description="The flow its customers start in; unset: main"),
    _by(check_main_flow),
]  # fmt: skip


SendingNumber = Annotated[
    str | None,
    Field(pattern=ID_PATTERN, description="The business number it goes out from (its phone_number_id, one "
          "GET /api/numbers lists); default: the default number"),
]  # fmt: skip


class NumberCreate(Body):
    """A business number to serve; its id and display number are required."""

    id: NumberId
    display_number: Display
    account_id: AccountId = None
    token_env: TokenEnv = None
    throughput: Throughput = 80
    tier: Tier = 250
    main_flow: MainFlow = None


class NumberChange(Body):
    """Any of a number's values to change; the id stays."""

    display_number: Display | None = None  # null is refused by the handler: a number keeps its display number
    account_id: AccountId = None
    token_env: TokenEnv = None
    throughput: Throughput | None = None  # null is refused likewise
    tier: Tier | None = None
    main_flow: MainFlow = None


class PhoneNumber(pydantic.BaseModel):
    """A business number the deployment serves, with its limits and where its settings came from."""

    id: str
    display_number: str
    account_id: str | None
    token_env: str | None
    throughput: int
    tier: int | Literal["unlimited"] = Field(description="Meta's messaging-limit tier, or unlimited")
    quality: str | None = Field(description="Meta's quality rating (GREEN, YELLOW, RED), once it reported one")
    main_flow: str | None
    default: bool = Field(description="Rows and requests that name no number belong to it")
    source: Literal["api", "file", "settings"] = Field(description="Who wrote it last: the API, numbers.yaml, "
                                                       "or the settings (no numbers.yaml)")  # fmt: skip
    created_at: datetime
    updated_at: datetime


class NumberPage(pydantic.BaseModel):
    """Numbers in id order; `next_after` is the `after` of the next page."""

    items: list[PhoneNumber]
    next_after: str | None = Field(description="The page's last id when more follow")
