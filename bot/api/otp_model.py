"""The bodies of `POST /api/otp` and `POST /api/otp/verify` as Pydantic models: checked with them, shown by them."""

from __future__ import annotations

from typing import Literal

import pydantic
from pydantic import Field

from bot.api.model import Body
from bot.api.notification_model import WaId

CODE_MAX = 32  # far above six digits with spaces; a longer "code" is not a typing slip
Purpose = Literal["login", "account_setup"]
_PURPOSE = "Which authentication template carries the code"


class OtpRequest(Body):
    """A one-time code to send."""

    wa_id: WaId
    purpose: Purpose = Field(description=_PURPOSE)


class OtpVerify(Body):
    """A one-time code to check."""

    wa_id: WaId
    purpose: Purpose = Field(description=_PURPOSE)
    code: str = Field(max_length=CODE_MAX, description="The six digits the customer received")


class OtpSent(pydantic.BaseModel):
    status: Literal["sent"]


class OtpVerified(pydantic.BaseModel):
    """Whether the code was right, and nothing about why not."""

    verified: bool
