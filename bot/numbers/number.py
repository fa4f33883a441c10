"""The business numbers a deployment serves: `numbers.yaml` read with positions, or the one number of the settings.

A number is Meta's `phone_number_id` with its display number, its business account, the environment
variable holding its token, its throughput and its messaging-limit tier. The file is the project's (beside
`flows/`); the admin API adds and changes numbers in the database (`/api/numbers`). With no file, the
settings' single number (WHATSAPP_PHONE_NUMBER_ID, BOT_THROUGHPUT, BOT_MESSAGING_LIMIT, the token in
WHATSAPP_ACCESS_TOKEN) is the only one, so single-number deployments keep working unchanged.

The first number of the file (or the settings' number) is the *default*: rows from before several
numbers, and campaigns, schedules and notifications that name no number, belong to it.

The field checks here are shared by the file reader and the API's models, so both refuse the same values
with the same words.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from aiohttp import web

from bot.errors import ConfigError, ValidationError
from bot.settings import SANDBOX_DISPLAY_NUMBER, TIERS, Settings
from bot.yaml_file import Problem, Reading, YamlLoader, read_mapping, unknown_key
from storage import numbers as storage_numbers
from storage.models import PhoneNumberBase
from storage.repository import Repository

NUMBERS_FILE = "numbers.yaml"
FIELDS = ("id", "display_number", "account_id", "token_env", "throughput", "tier", "main_flow")
MAX_NUMBERS = 1000
# The patterns the checks below use; the API's models show them in the OpenAPI document.
ID_PATTERN = r"^[0-9]{1,32}$"
DISPLAY_PATTERN = r"^\+?[0-9][0-9 ()\-.]{2,30}$"
ENV_PATTERN = r"^[A-Z_][A-Z0-9_]{0,127}$"
FLOW_PATTERN = r"^[a-z][a-z0-9_]{0,127}$"
_ID, _DISPLAY, _ENV, _FLOW = (re.compile(p) for p in (ID_PATTERN, DISPLAY_PATTERN, ENV_PATTERN, FLOW_PATTERN))


@dataclass(frozen=True)
class Number:
    """One business number and its limits; `tier` None is Meta's unlimited tier."""

    id: str
    display_number: str
    account_id: str | None = None
    token_env: str | None = None
    throughput: int = 80
    tier: int | None = 250
    main_flow: str | None = None

    def row(self) -> dict[str, Any]:
        """The number as the `phone_number` table's values."""
        return {name: getattr(self, name) for name in FIELDS}

    def token(self, settings: Settings, environ: Mapping[str, str]) -> str | None:
        """The number's access token: from its own variable, else WHATSAPP_ACCESS_TOKEN; None when unset."""
        if self.token_env:
            return environ.get(self.token_env) or None
        return settings.access_token


# --- field checks, shared with the API's models ------------------------------------------------------


def check_id(value: Any) -> str:
    if not isinstance(value, str) or not _ID.fullmatch(value):
        raise ValueError("must be Meta's phone number id: 1 to 32 digits, written as a string")
    return value


def check_display_number(value: Any) -> str:
    if not isinstance(value, str) or not _DISPLAY.fullmatch(value):
        raise ValueError("must be a phone number as people write it, e.g. +31 20 123 4567 (3 to 32 characters)")
    return value


def check_account_id(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not _ID.fullmatch(value):
        raise ValueError("must be the WhatsApp Business Account id: 1 to 32 digits, written as a string")
    return value


def check_token_env(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not _ENV.fullmatch(value):
        raise ValueError("must name an environment variable: capital letters, digits and _, e.g. WHATSAPP_TOKEN_SALES")
    return value


def check_throughput(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 1000:
        raise ValueError("must be a whole number of messages per second from 1 to 1000 (Meta's default is 80)")
    return value


def check_tier(value: Any) -> int | None:
    if value is None or value == "unlimited":
        return None
    if isinstance(value, bool) or value not in TIERS:
        raise ValueError(f"must be one of Meta's tiers: {', '.join(str(t) for t in TIERS)} or unlimited")
    return int(value)


def check_main_flow(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not _FLOW.fullmatch(value):
        raise ValueError("must be a flow's name: lower-case letters, digits and _, starting with a letter")
    return value


CHECKS = {
    "id": check_id,
    "display_number": check_display_number,
    "account_id": check_account_id,
    "token_env": check_token_env,
    "throughput": check_throughput,
    "tier": check_tier,
    "main_flow": check_main_flow,
}


# --- the file --------------------------------------------------------------------------------------


def numbers_file(settings: Settings) -> Path:
    return settings.project_path(NUMBERS_FILE)


def read_numbers(path: Path, flows: Collection[str] | None = None) -> tuple[list[Number] | None, list[Problem]]:
    """The numbers of one file (None when it has errors) and every problem, as `path:line:col`.

    With `flows` (the flows' names), a `main_flow` that names none of them is an error too.
    """
    reading = Reading(path)
    what = "a numbers file is a mapping with 'numbers': a list of numbers, each with 'id' and 'display_number'"
    read = read_mapping(reading, loader=YamlLoader, what=what, at_top=True)
    if read is None:
        return None, reading.sorted_problems()
    data = read[1]
    reading.check_top_keys(data, ("numbers",), ("numbers",))
    items = data.get("numbers")
    numbers: list[Number] = []
    if "numbers" in data and (not isinstance(items, list) or not 1 <= len(items) <= MAX_NUMBERS):
        reading.error(reading.at("numbers"), f"'numbers' must be a list of 1 to {MAX_NUMBERS} numbers")
    elif isinstance(items, list):
        seen: dict[str, int] = {}
        for index, item in enumerate(items):
            number = _number(reading, item, index)
            if number is None:
                continue
            if flows is not None and number.main_flow is not None and number.main_flow not in flows:
                known = ", ".join(sorted(flows))
                reading.error(
                    reading.at("numbers", index, "main_flow"), f"main_flow {number.main_flow!r} is no flow: {known}"
                )
            if number.id in seen:
                reading.error(reading.at("numbers", index, "id"), f"id {number.id} is also number {seen[number.id]}")
            seen.setdefault(number.id, index)
            numbers.append(number)
    return (numbers if reading.ok else None), reading.sorted_problems()


def _number(reading: Reading, item: Any, index: int) -> Number | None:
    if not isinstance(item, dict):
        reading.error(reading.at("numbers", index), "a number is a mapping with 'id' and 'display_number'")
        return None
    values: dict[str, Any] = {}
    for key in item:
        if key not in FIELDS:
            reading.error(reading.key_at("numbers", index, str(key)), unknown_key(key, FIELDS))
    for key in ("id", "display_number"):
        if key not in item:
            reading.error(reading.at("numbers", index), f"missing required key {key!r}")
    for key, check in CHECKS.items():
        if key not in item:
            continue
        try:
            values[key] = check(item[key])
        except ValueError as exc:
            reading.error(reading.at("numbers", index, key), f"{key} {exc}")
    if not {"id", "display_number"} <= values.keys() or len(values) < sum(k in CHECKS for k in item):
        return None
    return Number(**values)


def single_number(settings: Settings) -> Number:
    """The one number of a deployment with no numbers file: today's settings."""
    return Number(
        id=settings.phone_number_id,
        # Meta's display number is not a setting: the sandbox's own, else the id until the API names it.
        display_number=SANDBOX_DISPLAY_NUMBER if settings.sandbox else settings.phone_number_id,
        throughput=settings.throughput,
        tier=settings.messaging_limit,
    )


def configured_numbers(settings: Settings) -> tuple[list[Number], str]:
    """The numbers the project configures (the file's, else the settings' one) and where they came from.

    A file with errors refuses to start, listing them as `path:line:col`, like flows with errors.
    """
    path = numbers_file(settings)
    if not path.exists():
        return [single_number(settings)], "settings"
    numbers, problems = read_numbers(path)
    if numbers is None:
        raise ConfigError("the numbers file has errors (run `bot check`):\n" + "\n".join(str(p) for p in problems))
    return numbers, "file"


def number_of(row: PhoneNumberBase) -> Number:
    return Number(**{name: getattr(row, name) for name in FIELDS})


class NumberBook:
    """The numbers this process serves, as last read from the `phone_number` table.

    Every process reads the table at start and again every few seconds (the sender's beat), so a number
    the API adds in one process is served by all of them within a beat. The default number is the
    configured first one (the file's first, or the settings' number) and never changes while running.
    """

    def __init__(self, default: Number) -> None:
        self.default = default
        self._numbers: dict[str, Number] = {default.id: default}
        self.ids = frozenset(self._numbers)  # read on every webhook: kept, not built per request

    def __iter__(self) -> Iterator[Number]:
        return iter(self._numbers.values())

    def __len__(self) -> int:
        return len(self._numbers)

    def get(self, number_id: str | None) -> Number:
        """The number of that id (None: the default); a number no longer served falls back to the default."""
        return self._numbers.get(number_id or self.default.id, self.default)

    def serves(self, number_id: str | None) -> bool:
        return number_id is None or number_id in self._numbers

    def replace(self, numbers: Iterable[Number]) -> None:
        read = {n.id: n for n in numbers}
        self._numbers = read or {self.default.id: self.default}
        self.ids = frozenset(self._numbers)

    async def refresh(self, repository: Repository) -> None:
        """Read the table again."""
        async with repository.reading() as conn:
            self.replace(number_of(row) for row in await storage_numbers.all_numbers(conn))


async def publish_numbers(repository: Repository, numbers: list[Number], source: str, now: datetime) -> NumberBook:
    """Write the configured numbers into the table (the file's, else the settings' one) and read them all back."""
    async with repository.transaction() as conn:
        await storage_numbers.put_numbers(conn, [n.row() for n in numbers], source, now)
    book = NumberBook(numbers[0])
    await book.refresh(repository)
    return book


NUMBERS = web.AppKey("numbers", NumberBook)


def sending_number(book: NumberBook, value: str | None, name: str = "phone_number_id") -> str:
    """The number a campaign, schedule or notification goes out from: one served, or the default when not given."""
    if value is None:
        return book.default.id
    if not book.serves(value):
        served = ", ".join(sorted(n.id for n in book))
        raise ValidationError(f"{name} {value!r} is not a number this deployment serves ({served})")
    return value
