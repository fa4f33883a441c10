"""A message template filled in, as one value: what the customer's phone shows and the parameters Meta needs.

`bot.message_templates` renders a template file into a `RenderedTemplate` once; `bot.whatsapp.message_body`
turns the value into the Cloud API send body in one pass. The value holds no file, no Jinja and no values
still to fill, so nothing on Meta's side of it calls back into the template package.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from bot.errors import ValidationError
from bot.whatsapp.category import Category

ButtonType = Literal["quick_reply", "url", "copy_code"]
HeaderFormat = Literal["image", "video", "document", "location"]
MEDIA_FORMATS: tuple[HeaderFormat, ...] = ("image", "video", "document")
HEADER_FORMATS: tuple[HeaderFormat, ...] = (*MEDIA_FORMATS, "location")
LOCATION_FIELDS = ("latitude", "longitude", "name", "address")
MEDIA_ID = re.compile(r"[0-9]{1,32}")  # Meta's media ids are numbers
FILENAME_MAX = 240  # a file name Meta shows under a document; longer ones are cut on the phone anyway


@dataclass(frozen=True)
class Parameter:
    """One text parameter of a header or body: `name` is Meta's ``parameter_name``, None for a positional one."""

    text: str
    name: str | None = None


@dataclass(frozen=True)
class HeaderMedia:
    """A header that is not text: a file (by its link or Meta's media id) or a place on a map.

    The same value is a template's header parameter and an interactive message's header; Meta writes both
    as ``{"type": FORMAT, FORMAT: {...}}``.
    https://developers.facebook.com/documentation/business-messaging/whatsapp/templates/components/
    """

    format: HeaderFormat
    link: str | None = None
    media_id: str | None = None
    filename: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    name: str | None = None
    address: str | None = None

    @classmethod
    def read(cls, format: HeaderFormat, values: Mapping[str, str]) -> HeaderMedia:
        """Check filled-in values: a file is an http(s) URL or a media id; a place has numbers in range.

        Raises `ValidationError` naming the field, never echoing a long value.
        """
        if format == "location":
            return cls(
                format,
                latitude=_coordinate(values.get("latitude"), "latitude", 90),
                longitude=_coordinate(values.get("longitude"), "longitude", 180),
                name=(values.get("name") or "").strip() or None,
                address=(values.get("address") or "").strip() or None,
            )
        source = (values.get("link") or "").strip()
        filename = (values.get("filename") or "").strip() or None
        if filename is not None and (len(filename) > FILENAME_MAX or "/" in filename or "\\" in filename):
            raise ValidationError(f"the {format} header's filename must be a file name of at most {FILENAME_MAX}")
        if MEDIA_ID.fullmatch(source):
            return cls(format, media_id=source, filename=filename)
        if re.fullmatch(r"https?://[^\s/]+\S*", source) and len(source) <= 2048:
            return cls(format, link=source, filename=filename)
        raise ValidationError(f"the {format} header must be an http(s) URL or a media id")

    def object(self) -> dict[str, Any]:
        """The inner object Meta reads: ``{link|id, filename?}`` or ``{latitude, longitude, name?, address?}``."""
        if self.format == "location":
            # Meta's template pages write the coordinates as strings.
            found: dict[str, Any] = {"latitude": str(self.latitude), "longitude": str(self.longitude)}
            found |= {k: v for k, v in (("name", self.name), ("address", self.address)) if v}
            return found
        found = {"id": self.media_id} if self.media_id else {"link": self.link}
        if self.filename and self.format == "document":
            found["filename"] = self.filename
        return found

    def component(self) -> dict[str, Any]:
        """``{"type": FORMAT, FORMAT: {...}}``: a template header's parameter, or an interactive header."""
        return {"type": self.format, self.format: self.object()}

    @classmethod
    def from_component(cls, value: Any) -> HeaderMedia | None:
        """Read back what `component` wrote (a stored send body); None when it is not one."""
        if not isinstance(value, Mapping) or value.get("type") not in HEADER_FORMATS:
            return None
        format: HeaderFormat = value["type"]
        inner = value.get(format)
        if not isinstance(inner, Mapping):
            return None
        fields = {k: str(v) for k, v in inner.items() if isinstance(v, str | int | float) and not isinstance(v, bool)}
        try:
            if format == "location":
                return cls.read(format, fields)
            return cls.read(format, {"link": fields.get("id") or fields.get("link", ""), **fields})
        except ValidationError:
            return None

    @property
    def words(self) -> str:
        """The header as one line of plain text: ``[Document: invoice.pdf]``, ``[Location: Shop, Main St 1]``."""
        if self.format == "location":
            place = ", ".join(p for p in (self.name, self.address) if p) or f"{self.latitude}, {self.longitude}"
            return f"[Location: {place}]"
        return f"[{self.format.capitalize()}{f': {self.filename}' if self.filename else ''}]"


def _coordinate(value: str | None, name: str, limit: int) -> float:
    try:
        number = float((value or "").strip())
    except ValueError:
        number = math.nan
    if not math.isfinite(number) or abs(number) > limit:
        raise ValidationError(f"the location header's {name} must be a number from -{limit} to {limit}")
    return number


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
    header_media: HeaderMedia | None = None  # a file or place instead of a text header
