"""Plug-ins: flow actions and `ask` validators from installed packages' entry points, beside the built-in ones.

A package adds an action under the entry point group `whatsapp_bot.actions` and a validator under
`whatsapp_bot.validators`, each named as flows name it (`loyalty.points`). The interfaces are `Action`
and `AnswerValidator` below; `ActionContext` is what an action gets. The built-in actions are a
mapping of the same interface (`bot.inbound.actions.ACTIONS`); a plug-in may not take a built-in's
name. What cannot be loaded is a `Problem` at its line in the distribution's `entry_points.txt`, which
`bot check` reports and which keeps that plug-in out, never the service.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from typing import Any, Protocol

from bot.engine.answer import VALIDATORS
from bot.engine.flow_file import DOTTED
from bot.inbound.actions import ACTIONS, ActionContext
from bot.yaml_file import Problem

ACTION_GROUP = "whatsapp_bot.actions"
VALIDATOR_GROUP = "whatsapp_bot.validators"

__all__ = ["ACTION_GROUP", "VALIDATOR_GROUP", "Action", "ActionContext", "AnswerValidator", "Plugins", "load_plugins"]


class Action(Protocol):
    """A flow action: the turn (its transaction, contact and clock) and the step's rendered `args` in.

    It answers JSON-like data for the step's `result` slot; a `bot.errors.BotError` (or any exception)
    sends the flow to the step's `on_error`. It runs in the turn's transaction, within the step's timeout.
    """

    async def __call__(self, ctx: ActionContext, args: Mapping[str, str], /) -> Any: ...


class AnswerValidator(Protocol):
    """A `{custom: NAME}` validator: the trimmed answer in, the value to keep out (JSON-ready).

    Raising `ValueError` refuses the answer; its message is what the customer reads.
    """

    def __call__(self, answer: str, /) -> Any: ...


@dataclass(frozen=True)
class Plugins:
    """The actions and validators flows may name: the built-in ones and every plug-in that loaded."""

    actions: Mapping[str, Action]
    validators: Mapping[str, AnswerValidator]
    problems: tuple[Problem, ...] = ()


def load_plugins(
    *, actions: Mapping[str, Any] = ACTIONS, validators: Mapping[str, Callable[[str], Any]] = VALIDATORS
) -> Plugins:
    """The built-in `actions` and `validators` with the installed plug-ins' added, and what could not be added."""
    problems: list[Problem] = []
    found_actions: dict[str, Action] = dict(actions)
    found_validators: dict[str, AnswerValidator] = dict(validators)
    for group, found, wants_async in (
        (ACTION_GROUP, found_actions, True),
        (VALIDATOR_GROUP, found_validators, False),
    ):
        for point in entry_points(group=group):
            loaded = _load(point, group, found, wants_async)
            if isinstance(loaded, Problem):
                problems.append(loaded)
            else:
                found[point.name] = loaded
    return Plugins(found_actions, found_validators, tuple(problems))


def _load(point: EntryPoint, group: str, found: Mapping[str, Any], wants_async: bool) -> Any:
    """The entry point's function, or a `Problem` saying why it is not taken."""
    what = "action" if wants_async else "validator"
    if not DOTTED.fullmatch(point.name):
        return _problem(point, group, f"{what} name {point.name!r} must be lowercase names joined by dots")
    if point.name in found:
        return _problem(point, group, f"{what} {point.name!r} is already registered; plug-in names must be new")
    try:
        function = point.load()
    except Exception as exc:  # a plug-in's import can fail in any way; it is reported, and left out
        return _problem(point, group, f"cannot load {what} {point.name!r} ({point.value}): {type(exc).__name__}: {exc}")
    if not callable(function):
        return _problem(point, group, f"{what} {point.name!r} ({point.value}) is not callable")
    if wants_async != inspect.iscoroutinefunction(function):
        kind = "an async function" if wants_async else "a plain (not async) function"
        return _problem(point, group, f"{what} {point.name!r} ({point.value}) must be {kind}")
    return function


def _problem(point: EntryPoint, group: str, message: str) -> Problem:
    """A problem at the entry point's line in its distribution's `entry_points.txt`, when that file is known."""
    text = point.dist.read_text("entry_points.txt") if point.dist is not None else None
    located = getattr(point.dist, "_path", None)
    path = Path(located) / "entry_points.txt" if located is not None else Path(f"<entry points {group}>")
    line = 1
    if text:
        section = False
        for number, row in enumerate(text.splitlines(), start=1):
            stripped = row.strip()
            if stripped.startswith("["):
                section = stripped == f"[{group}]"
            elif section and stripped.split("=", 1)[0].strip() == point.name:
                line = number
                break
    return Problem(path, line, 1, "error", message)
