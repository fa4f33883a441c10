"""A message template filled in, as one value: what the customer's phone shows and the parameters Meta needs.

`bot.message_templates` renders a template file into a `RenderedTemplate` once; `bot.whatsapp.message_body`
turns the value into the Cloud API send body in one pass. The value holds no file, no Jinja and no values
still to fill, so nothing on Meta's side of it calls back into the template package.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from bot.whatsapp.category import Category

ButtonType = Literal["quick_reply", "url", "copy_code"]


@dataclass(frozen=True)
class Parameter:
    """One text parameter of a header or body: `name` is Meta's ``parameter_name``, None for a positional one."""

    text: str
    name: str | None = None


@dataclass(frozen=True)
class RenderedButton:
    """A button as the phone shows it (its title, its URL filled in) and what its send component carries.

    `payload` comes back when a quick reply is tapped; `parameters` are the texts of a URL button's suffix,
    or the code a copy-code button copies.
    """

    type: ButtonType
    text: str
    payload: str | None = None
    url: str | None = None
    parameters: tuple[str, ...] = ()


@dataclass(frozen=True)
class RenderedTemplate:
    """A template with its values: header, body text, footer and buttons as shown, and the send parameters.

    Service templates are in-window replies: their parameters stay empty because they go as text or reply
    buttons. Authentication templates show Meta's security line and expiry footer in `text` and `footer`,
    and carry the code positionally, as Meta's fixed authentication text expects.
    """

    name: str
    language: str
    category: Category
    text: str
    header: str | None = None
    footer: str | None = None
    buttons: tuple[RenderedButton, ...] = ()
    header_parameters: tuple[Parameter, ...] = ()
    body_parameters: tuple[Parameter, ...] = ()
