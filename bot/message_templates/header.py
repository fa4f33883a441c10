"""File and place headers as a template's front matter writes them: read, checked, kept as Jinja sources.

A header is a text, or one of ``image``, ``video``, ``document`` (with a ``filename``) or ``location``;
the file or place is given with each send, so each field is a Jinja text over the send's values.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from bot.whatsapp.rendered_template import HEADER_FORMATS, LOCATION_FIELDS, HeaderFormat
from bot.yaml_file import KeyPath, unknown_key

Position = tuple[int, int]


class FrontMatter(Protocol):
    """What checking a header needs of the front matter (`template_file.FrontMatter`): data and positions."""

    data: dict[str, Any]
    keys: dict[KeyPath, Position]

    def at(self, *path: str | int) -> Position: ...


class Reading(Protocol):
    def error(self, position: Position, message: str) -> None: ...


HEADER_FORMS = (
    "a text, {image: URL}, {video: URL}, {document: URL, filename: NAME} or "
    "{location: {latitude: …, longitude: …, name: …, address: …}}"
)


@dataclass(frozen=True)
class HeaderSource:
    """A media or location header as written: its format and each field's Jinja source, unrendered.

    A file's fields are ``link`` (what is written under its format: a URL or a media id, usually one
    variable given at send time) and ``filename``; a place's are latitude, longitude, name and address.
    """

    format: HeaderFormat
    fields: Mapping[str, str]

    def path(self, name: str) -> KeyPath:
        """Where a field is written in the front matter."""
        if self.format == "location":
            return ("header", "location", name)
        return ("header", self.format) if name == "link" else ("header", name)


def header_source(value: Any) -> HeaderSource | None:
    """The media or location header a front matter's ``header`` mapping describes; None for anything else."""
    if not isinstance(value, dict):
        return None
    formats = [key for key in value if key in HEADER_FORMATS]
    if len(formats) != 1:
        return None
    format: HeaderFormat = formats[0]
    if format == "location":
        place = value["location"]
        fields = {k: place[k] for k in LOCATION_FIELDS if isinstance(place, dict) and isinstance(place.get(k), str)}
        return HeaderSource(format, fields)
    fields = {"link": value[format]} | ({"filename": value["filename"]} if "filename" in value else {})
    return HeaderSource(format, {k: v for k, v in fields.items() if isinstance(v, str)})


def check_header(front: FrontMatter, reading: Reading) -> None:
    """A text, or one file or place; Meta allows files and places in utility and marketing templates only.

    https://developers.facebook.com/documentation/business-messaging/whatsapp/templates/components/
    """
    value = front.data.get("header")
    if value is None or isinstance(value, str):
        return
    if not isinstance(value, dict):
        reading.error(front.at("header"), f"'header' must be {HEADER_FORMS}")
        return
    formats = [key for key in value if key in HEADER_FORMATS]
    if len(formats) != 1:
        reading.error(front.at("header"), f"'header' must be {HEADER_FORMS}")
        return
    format = formats[0]
    allowed = ("location",) if format == "location" else (format, "filename") if format == "document" else (format,)
    for key in value:
        if key not in allowed:
            reading.error(front.keys.get(("header", str(key)), (1, 1)), unknown_key(key, allowed, " in the header"))
    if format == "location":
        _check_place(front, reading, value["location"])
    else:
        for key in allowed:
            if key in value and (not isinstance(value[key], str) or not value[key].strip()):
                reading.error(front.at("header", key), f"the header's {key!r} must be a text; quote it")
    category = front.data.get("category")
    if category not in ("utility", "marketing"):
        reading.error(front.at("header"), f"a {format} header belongs in utility and marketing templates only")


def _check_place(front: FrontMatter, reading: Reading, place: Any) -> None:
    if not isinstance(place, dict):
        reading.error(front.at("header", "location"), "'location' must map latitude, longitude, name and address")
        return
    for key, value in place.items():
        if key not in LOCATION_FIELDS:
            where = front.keys.get(("header", "location", str(key)), (1, 1))
            reading.error(where, unknown_key(key, LOCATION_FIELDS, " in a location header"))
        elif not isinstance(value, str) or not value.strip():
            reading.error(front.at("header", "location", key), f"the location's {key!r} must be a text; quote it")
    for key in ("latitude", "longitude"):
        if key not in place:
            reading.error(front.at("header", "location"), f"a location header needs {key!r}")
