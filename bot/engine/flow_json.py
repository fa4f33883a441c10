"""WhatsApp Flow JSON files (`whatsapp_flows/<name>.json`): read with positions, and checked against the steps.

A `form` step sends one of Meta's WhatsApp Flows; its Flow JSON lives in the project so `bot check` can
hold the two together and the sandbox can show the form. This reads a subset of Meta's Flow JSON
(https://developers.facebook.com/documentation/business-messaging/whatsapp/flows/reference/flowjson):
`version` (one Meta knows), `screens` with unique ids, each with a `layout` whose `children` (and a `Form`'s)
are components. Input components (TextInput, TextArea, Dropdown, RadioButtonsGroup, CheckboxGroup,
DatePicker, OptIn) need a `name`; a `Footer`'s `on-click-action` `complete` sends its `payload` as the
answer. What the subset does not know is a warning, never an error: Meta is the judge of the whole format.

The JSON is decoded by the standard library (a syntax error keeps its line and column) and walked a
second time as YAML, a superset of JSON, for the positions of every key.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.engine.flow import Flow, Form
from bot.engine.flow_file import LocatedFlow
from bot.yaml_file import (
    KeyPath,
    Position,
    Problem,
    Reading,
    YamlLoader,
    did_you_mean,
    load_yaml,
    read_each,
    read_text,
    walk,
)

FOLDER = "whatsapp_flows"  # beside the flows folder, in the project's folder
SUFFIX = ".json"
# Flow JSON versions Meta has published; an older or unknown one is refused by Meta, so it is an error here.
VERSIONS = ("2.1", "3.0", "3.1", "4.0", "5.0", "5.1", "6.0", "6.1", "6.2", "6.3", "7.0", "7.1", "7.2")
TOP_KEYS = ("version", "screens", "data_api_version", "routing_model", "data_channel_uri")
INPUTS = ("TextInput", "TextArea", "Dropdown", "RadioButtonsGroup", "CheckboxGroup", "DatePicker", "OptIn")
CHOICES = ("Dropdown", "RadioButtonsGroup", "CheckboxGroup")
SHOWN = ("TextHeading", "TextSubheading", "TextBody", "TextCaption", "Footer", "Form", *INPUTS)
SCREEN_ID = re.compile(r"[A-Za-z_]+")


@dataclass(frozen=True)
class FlowJson:
    """What the checks need of one Flow JSON file: its screens, and the names its answer may carry."""

    name: str
    path: Path
    screens: tuple[str, ...]
    answers: frozenset[str]  # a `complete` payload's keys, or, without one, the input components' names


def flows_folder_of(flows: Path) -> Path:
    """The project's Flow JSON folder: `whatsapp_flows/` beside the flows folder."""
    return flows.parent / FOLDER


def load_flow_jsons(folder: Path) -> tuple[dict[str, FlowJson], list[Problem]]:
    """Every sound Flow JSON in `folder` by name, and the problems of all its files (no folder: none)."""
    paths = sorted(folder.glob(f"*{SUFFIX}")) if folder.is_dir() else []
    return read_each(paths, read_flow_json, lambda read: read.name)


def read_flow_json(path: Path) -> tuple[FlowJson | None, list[Problem]]:
    """One file: what it holds when it has no error (None otherwise), and every problem found in it."""
    reading = Reading(path)
    text = read_text(reading)
    if text is None:
        return None, reading.problems
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        reading.error(Position(exc.lineno, exc.colno), f"not JSON: {exc.msg}")
        return None, reading.problems
    except RecursionError:
        reading.error(Position(1, 1), "not JSON a checker can read: nested too deeply")
        return None, reading.problems
    loaded = load_yaml(path, text, loader=YamlLoader)
    if not isinstance(loaded, Problem) and loaded[0] is not None:
        walk(loaded[0], (), reading, set())  # positions only: JSON that YAML cannot read points at 1:1
    if not isinstance(data, dict):
        reading.error(Position(1, 1), "a Flow JSON file is an object with 'version' and 'screens'")
        return None, reading.problems
    screens = _check(data, reading)
    if not reading.ok:
        return None, reading.sorted_problems()
    answers = frozenset(_answers(data))
    return FlowJson(path.name.removesuffix(SUFFIX), path, screens, answers), reading.sorted_problems()


def _check(data: dict[str, Any], reading: Reading) -> tuple[str, ...]:
    for key in data:
        if key not in TOP_KEYS:
            _warn(reading, reading.key_at(str(key)), f"key {key!r} is not in the subset checked here (Meta checks it)")
    version = data.get("version")
    if "version" not in data:
        reading.error(Position(1, 1), "missing 'version'")
    elif version not in VERSIONS:
        known = ", ".join(VERSIONS)
        reading.error(reading.at("version"), f"version {version!r} is not one Meta knows ({known}); quote it")
    screens = data.get("screens")
    if not isinstance(screens, list) or not screens:
        reading.error(reading.at("screens"), "'screens' must be a list of one or more screens")
        return ()
    ids: list[str] = []
    for index, screen in enumerate(screens):
        where: KeyPath = ("screens", index)
        if not isinstance(screen, dict):
            reading.error(reading.at(*where), f"screen {index + 1} must be an object with an 'id' and a 'layout'")
            continue
        screen_id = screen.get("id")
        if not isinstance(screen_id, str) or not SCREEN_ID.fullmatch(screen_id):
            reading.error(reading.at(*where, "id"), f"screen {index + 1} needs an 'id' of letters and underscores")
        elif screen_id in ids:
            reading.error(reading.at(*where, "id"), f"duplicate screen id {screen_id!r}")
        else:
            ids.append(screen_id)
        _check_layout(screen.get("layout"), (*where, "layout"), reading)
    return tuple(ids)


def _check_layout(layout: Any, path: KeyPath, reading: Reading) -> None:
    if not isinstance(layout, dict) or not isinstance(layout.get("children"), list):
        at = reading.values.get(path) or reading.at(*path[:-1])  # a missing layout: at its screen
        reading.error(at, "a screen's 'layout' is an object with a list of 'children'")
        return
    names: set[str] = set()
    for where, component in _components(layout["children"], (*path, "children")):
        kind = component.get("type")
        if not isinstance(kind, str):
            reading.error(reading.at(*where), "a component needs a 'type'")
            continue
        if kind not in SHOWN:
            _warn(reading, reading.at(*where, "type"), f"component {kind!r} is not shown by the sandbox")
        if kind in INPUTS:
            name = component.get("name")
            if not isinstance(name, str) or not name:
                reading.error(reading.at(*where), f"a {kind} needs a 'name'")
            elif name in names:
                reading.error(reading.at(*where, "name"), f"duplicate component name {name!r} on this screen")
            else:
                names.add(name)
        source = component.get("data-source")
        if kind in CHOICES and not isinstance(source, list | str):
            reading.error(reading.at(*where), f"a {kind} needs a 'data-source': a list of {{id, title}}")


def _components(items: list[Any], path: KeyPath) -> Iterator[tuple[KeyPath, dict[str, Any]]]:
    """Every component below a layout, with its path; a `Form` component's children are walked too."""
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            continue
        yield (*path, index), item
        children = item.get("children")
        if isinstance(children, list):
            yield from _components(children, (*path, index, "children"))


def _answers(data: dict[str, Any]) -> Iterator[str]:
    """The names an answer may carry: every `complete` action's payload keys, else every input's name."""
    components = [
        c for screen in data["screens"] for _, c in _components((screen.get("layout") or {}).get("children") or [], ())
    ]
    payloads = [
        action.get("payload")
        for c in components
        if isinstance(action := c.get("on-click-action"), dict) and action.get("name") == "complete"
    ]
    keys = [str(k) for p in payloads if isinstance(p, dict) for k in p]
    yield from keys or (str(c["name"]) for c in components if c.get("type") in INPUTS and "name" in c)


def _warn(reading: Reading, where: Position, message: str) -> None:
    reading.problems.append(Problem(reading.path, where.line, where.column, "warning", message))


def check_forms(flows: Mapping[str, Flow], found: Mapping[str, FlowJson], folder: Path) -> list[Problem]:
    """Each `form` step against its Flow JSON: the file exists, its first screen does, and so does each field."""
    return [
        problem
        for flow in flows.values()
        for step in flow.steps.values()
        if isinstance(step, Form)
        for problem in _check_form(flow, step, found, folder)
    ]


def _check_form(flow: Flow, step: Form, found: Mapping[str, FlowJson], folder: Path) -> Iterator[Problem]:
    positions = flow.positions if isinstance(flow, LocatedFlow) else {}

    def problem(key: KeyPath, message: str) -> Problem:
        where = positions.get(("steps", step.id, *key)) or step.position
        return Problem(Path(flow.path), where.line, where.column, "error", message)

    form = found.get(step.flow_json)
    if form is None:
        file = folder / f"{step.flow_json}{SUFFIX}"
        if file.exists():  # there, but with errors of its own, which are reported at their places
            return
        hint = did_you_mean(step.flow_json, found)
        yield problem(("flow_json",), f"no Flow JSON {file}" + (f"; {hint}" if hint else ""))
        return
    if step.screen is not None and step.screen not in form.screens:
        shown = ", ".join(form.screens)
        yield problem(("screen",), f"Flow JSON {step.flow_json!r} has no screen {step.screen!r} (it has {shown})")
    for name in step.fields:
        if name not in form.answers:
            known = ", ".join(sorted(form.answers)) or "nothing"
            message = f"Flow JSON {step.flow_json!r} answers with no field {name!r} (it answers {known})"
            yield problem(("fields", name), message)
