"""Reads one template file (YAML front matter, then a Jinja body) into a `MessageTemplate`, with positions.

Reading never raises on a bad file: it returns what it could build and the `Problem`s it found, each
pointing at a line and column of the file, so `bot check` can report every mistake in one run.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from jinja2 import StrictUndefined, TemplateSyntaxError, nodes
from jinja2.meta import find_undeclared_variables
from jinja2.sandbox import SandboxedEnvironment

from bot.message_templates.header import HeaderSource, check_header, header_source
from bot.whatsapp.category import CATEGORIES, Category
from bot.whatsapp.rendered_template import ButtonType
from bot.yaml_file import KeyPath, Problem, load_yaml, unknown_key

BUTTON_TYPES: tuple[ButtonType, ...] = ("quick_reply", "url", "copy_code")

SUFFIX = ".md.j2"
FENCE = "---"
# Meta's template names: https://developers.facebook.com/documentation/business-messaging/whatsapp/templates/
NAME_PATTERN = re.compile(r"[a-z0-9_]+")
NAME_MAX = 512
LANGUAGE_PATTERN = re.compile(r"[a-z]{2,3}(_[A-Z]{2})?")
REQUIRED_KEYS = ("name", "category", "language")
OPTIONAL_KEYS = ("header", "footer", "buttons", "examples", "security_recommendation", "code_expiration_minutes")
BUTTON_KEYS: dict[str, tuple[str, ...]] = {
    "quick_reply": ("type", "text", "payload"),
    "url": ("type", "text", "url"),
    "copy_code": ("type", "text"),
}
COPY_CODE_TEXT = "Copy code"

Position = tuple[int, int]


@dataclass(frozen=True)
class Button:
    """A template button; `url` and `text` may hold Jinja placeholders until rendered."""

    type: ButtonType
    text: str
    payload: str | None = None
    url: str | None = None


@dataclass(frozen=True)
class MessageTemplate:
    """One message in one language, as read from its file; the Jinja sources stay unrendered.

    ``body_line`` is the file line the body starts on, so positions inside the body map back to the file.
    ``variables`` lists every variable in order of first appearance: header, body, then buttons.
    """

    path: Path
    name: str
    category: Category
    language: str
    body: str
    body_line: int
    header: str | None = None
    footer: str | None = None
    buttons: tuple[Button, ...] = ()
    examples: Mapping[str, Any] = field(default_factory=dict)
    security_recommendation: bool = False
    code_expiration_minutes: int | None = None
    variables: tuple[str, ...] = ()
    header_media: HeaderSource | None = None  # a file or a place instead of a text header

    @property
    def meta_bound(self) -> bool:
        """Utility, authentication and marketing templates go to Meta for approval; service ones do not."""
        return self.category != "service"


@dataclass
class FrontMatter:
    """The YAML block as data, and where each key and value sits in the file."""

    data: dict[str, Any]
    keys: dict[KeyPath, Position]
    values: dict[KeyPath, Position]
    body: str
    body_line: int

    def at(self, *path: str | int) -> Position:
        """Where a value starts, else its key, else the opening fence: the best place to point at."""
        return self.values.get(path) or self.keys.get(path) or (1, 1)


@dataclass
class Reading:
    """What reading one file gave: the template if it was sound enough to build, and the problems."""

    path: Path
    template: MessageTemplate | None = None
    front: FrontMatter | None = None
    problems: list[Problem] = field(default_factory=list)

    def error(self, position: Position, message: str) -> None:
        self.problems.append(Problem(self.path, position[0], position[1], "error", message))

    def warning(self, position: Position, message: str) -> None:
        self.problems.append(Problem(self.path, position[0], position[1], "warning", message))

    @property
    def ok(self) -> bool:
        return not any(p.severity == "error" for p in self.problems)


def environment() -> SandboxedEnvironment:
    """The one Jinja setup for templates: sandboxed, strict about missing values, and no HTML escaping.

    WhatsApp text is plain, so escaping would put ``&amp;`` in front of customers.
    """
    return SandboxedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=False)


def template_files(root: Path) -> list[Path]:
    """Every template file under `root`, sorted so reports and exports are stable."""
    return sorted(p for p in root.rglob(f"*{SUFFIX}") if p.is_file())


def split_file_name(path: Path) -> tuple[str, str] | None:
    """``appointment_reminder.pt_BR.md.j2`` is ``("appointment_reminder", "pt_BR")``; None if malformed."""
    stem = path.name.removesuffix(SUFFIX)
    name, dot, language = stem.rpartition(".")
    return (name, language) if dot and name and language else None


# --- front matter -----------------------------------------------------------------------------------


def split_front_matter(text: str, reading: Reading) -> tuple[str, str, int] | None:
    """Split a file into YAML text, body text and the file line the body starts on."""
    lines = text.splitlines(keepends=True)
    if not lines or lines[0].rstrip() != FENCE:
        reading.error((1, 1), "a template starts with a '---' line opening its YAML front matter")
        return None
    for index, line in enumerate(lines[1:], start=1):
        if line.rstrip() == FENCE:
            return "".join(lines[1:index]), "".join(lines[index + 1 :]), index + 2
    reading.error((1, 1), "the front matter opened on line 1 is never closed by a '---' line")
    return None


def load_front_matter(yaml_text: str, reading: Reading) -> tuple[dict[str, Any], yaml.Node] | None:
    """Parse the YAML, mapping its error marks to file positions (the YAML starts on file line 2)."""
    # PyYAML's own YAML 1.1 reading, as templates have always been read (unlike flows, yes/no are booleans).
    loaded = load_yaml(reading.path, yaml_text, loader=yaml.SafeLoader, first_line=2)
    if isinstance(loaded, Problem):
        reading.problems.append(loaded)
        return None
    node, data = loaded
    if node is None or not isinstance(data, dict):
        reading.error((2, 1), "the front matter must be a YAML mapping of keys to values")
        return None
    return data, node


def node_positions(node: yaml.Node, path: KeyPath = ()) -> Iterator[tuple[str, KeyPath, Position]]:
    """Yield ("key" | "value", path, file position) for every node below `node`."""
    yield "value", path, (node.start_mark.line + 2, node.start_mark.column + 1)
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            child = (*path, str(key.value))
            yield "key", child, (key.start_mark.line + 2, key.start_mark.column + 1)
            yield from node_positions(value, child)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            yield from node_positions(item, (*path, index))


def read_front_matter(text: str, reading: Reading) -> FrontMatter | None:
    split = split_front_matter(text, reading)
    if split is None:
        return None
    yaml_text, body, body_line = split
    loaded = load_front_matter(yaml_text, reading)
    if loaded is None:
        return None
    data, node = loaded
    keys: dict[KeyPath, Position] = {}
    values: dict[KeyPath, Position] = {}
    for kind, path, position in node_positions(node):
        (keys if kind == "key" else values)[path] = position
    return FrontMatter(data, keys, values, body, body_line)


# --- schema -----------------------------------------------------------------------------------------


def check_schema(front: FrontMatter, reading: Reading) -> bool:
    """Keys, types and the closed vocabularies; False when the template cannot be built."""
    data = front.data
    for key in data:
        if key not in REQUIRED_KEYS + OPTIONAL_KEYS:
            reading.error(front.keys.get((str(key),), (1, 1)), unknown_key(key, REQUIRED_KEYS + OPTIONAL_KEYS))
    for key in REQUIRED_KEYS:
        if key not in data:
            reading.error((1, 1), f"missing required key {key!r}")
    for key in ("name", "category", "language", "footer"):
        if key in data and not isinstance(data[key], str):
            reading.error(front.at(key), f"{key!r} must be a string")
    _check_identity(front, reading)
    check_header(front, reading)
    _check_buttons(front, reading)
    _check_examples(front, reading)
    _check_authentication_keys(front, reading)
    return reading.ok


def _check_identity(front: FrontMatter, reading: Reading) -> None:
    data = front.data
    name, category, language = data.get("name"), data.get("category"), data.get("language")
    if isinstance(name, str) and (not NAME_PATTERN.fullmatch(name) or len(name) > NAME_MAX):
        reading.error(front.at("name"), f"name {name!r} must be lowercase letters, digits and underscores, ≤ 512")
    if isinstance(category, str) and category not in CATEGORIES:
        reading.error(front.at("category"), f"unknown category {category!r}; expected one of: {', '.join(CATEGORIES)}")
    if isinstance(language, str) and not LANGUAGE_PATTERN.fullmatch(language):
        reading.error(front.at("language"), f"language {language!r} is not a code such as 'en' or 'pt_BR'")
    parts = split_file_name(reading.path)
    if parts is None:
        reading.error((1, 1), f"file name must be <name>.<language>{SUFFIX}")
        return
    if isinstance(name, str) and name != parts[0]:
        reading.error(front.at("name"), f"name {name!r} does not match the file name {parts[0]!r}")
    if isinstance(language, str) and language != parts[1]:
        reading.error(front.at("language"), f"language {language!r} does not match the file name {parts[1]!r}")


def _check_buttons(front: FrontMatter, reading: Reading) -> None:
    buttons = front.data.get("buttons", [])
    if not isinstance(buttons, list):
        reading.error(front.at("buttons"), "'buttons' must be a list")
        return
    for index, button in enumerate(buttons):
        if not isinstance(button, dict):
            reading.error(front.at("buttons", index), f"button {index + 1} must be a mapping")
            continue
        kind = button.get("type")
        if kind not in BUTTON_TYPES:
            where = front.at("buttons", index, "type") if "type" in button else front.at("buttons", index)
            reading.error(where, f"button {index + 1} type {kind!r} is not one of: {', '.join(BUTTON_TYPES)}")
            continue
        for key, value in button.items():
            if key not in BUTTON_KEYS[kind]:
                reading.error(
                    front.keys.get(("buttons", index, str(key)), (1, 1)), f"unknown {kind} button key {key!r}"
                )
            elif not isinstance(value, str):
                reading.error(front.at("buttons", index, key), f"button {index + 1} {key!r} must be a string")
        required = ("text", "url") if kind == "url" else ("text",) if kind == "quick_reply" else ()
        for key in required:
            if key not in button:
                reading.error(front.at("buttons", index), f"{kind} button {index + 1} needs {key!r}")


def _check_examples(front: FrontMatter, reading: Reading) -> None:
    examples = front.data.get("examples", {})
    if not isinstance(examples, dict):
        reading.error(front.at("examples"), "'examples' must map each variable to an example value")
        return
    meta_bound = front.data.get("category") != "service"
    for key, value in examples.items():
        if meta_bound and not isinstance(value, str):
            # Unquoted YAML turns 09:30 into 570 and 007 into 7; Meta's examples are text.
            reading.error(front.at("examples", str(key)), f"example for {key!r} must be a string; quote it")
        elif isinstance(value, str) and not value:
            reading.error(front.at("examples", str(key)), f"example for {key!r} is empty")


def _check_authentication_keys(front: FrontMatter, reading: Reading) -> None:
    data = front.data
    authentication = data.get("category") == "authentication"
    for key in ("security_recommendation", "code_expiration_minutes"):
        if key in data and not authentication:
            reading.error(front.keys[(key,)], f"{key!r} applies to authentication templates only")
    if "security_recommendation" in data and not isinstance(data["security_recommendation"], bool):
        reading.error(front.at("security_recommendation"), "'security_recommendation' must be true or false")
    minutes = data.get("code_expiration_minutes")
    if "code_expiration_minutes" in data and (type(minutes) is not int or not 1 <= minutes <= 90):
        # Meta's range for the "This code expires in N minutes." footer.
        reading.error(front.at("code_expiration_minutes"), "'code_expiration_minutes' must be a whole number 1 to 90")


# --- Jinja ------------------------------------------------------------------------------------------


def parse_jinja(env: SandboxedEnvironment, source: str) -> nodes.Template:
    """Parse a Jinja source; raises `TemplateSyntaxError` with the line inside `source`."""
    return env.parse(source)


def variables_in(ast: nodes.Template) -> list[str]:
    """The template's free variables in order of first appearance (loop targets and `set`s excluded)."""
    free = find_undeclared_variables(ast)
    seen: dict[str, None] = {}
    for name in ast.find_all(nodes.Name):
        if name.ctx == "load" and name.name in free:
            seen.setdefault(name.name, None)
    return list(seen)


def parse_sources(
    env: SandboxedEnvironment, front: FrontMatter, reading: Reading
) -> dict[KeyPath, nodes.Template] | None:
    """Parse the body and every templated front-matter string, reporting syntax errors where they are."""
    sources: dict[KeyPath, str] = {("body",): front.body}
    for key in ("header", "footer"):
        if isinstance(front.data.get(key), str):
            sources[(key,)] = front.data[key]
    media = header_source(front.data.get("header"))
    if media is not None:
        for name, source in media.fields.items():
            sources[media.path(name)] = source
    for index, button in enumerate(front.data.get("buttons") or []):
        for key in ("text", "url"):
            if isinstance(button, dict) and isinstance(button.get(key), str):
                sources[("buttons", index, key)] = button[key]
    asts: dict[KeyPath, nodes.Template] = {}
    for path, source in sources.items():
        try:
            asts[path] = parse_jinja(env, source)
        except TemplateSyntaxError as exc:
            where = (front.body_line + (exc.lineno or 1) - 1, 1) if path == ("body",) else front.at(*path)
            reading.error(where, f"Jinja syntax error: {exc.message}")
    return asts if reading.ok else None


def build_template(front: FrontMatter, asts: dict[KeyPath, nodes.Template], path: Path) -> MessageTemplate:
    """Assemble the template from checked front matter; variables ordered header, body, buttons."""
    data = front.data
    order: dict[str, None] = {}
    headers = [k for k in asts if k[0] == "header"]
    for key in [*headers, ("body",), *(k for k in asts if k[0] == "buttons")]:
        if key in asts:
            for name in variables_in(asts[key]):
                order.setdefault(name, None)
    buttons = tuple(
        Button(
            b["type"],
            b.get("text", COPY_CODE_TEXT if b["type"] == "copy_code" else ""),
            b.get("payload"),
            b.get("url"),
        )
        for b in data.get("buttons") or []
    )
    return MessageTemplate(
        path=path,
        name=data["name"],
        category=data["category"],
        language=data["language"],
        body=front.body,
        body_line=front.body_line,
        header=data["header"] if isinstance(data.get("header"), str) else None,
        footer=data.get("footer"),
        buttons=buttons,
        examples=dict(data.get("examples") or {}),
        security_recommendation=bool(data.get("security_recommendation", False)),
        code_expiration_minutes=data.get("code_expiration_minutes"),
        variables=tuple(order),
        header_media=header_source(data.get("header")),
    )


def read_template(path: Path, env: SandboxedEnvironment) -> tuple[Reading, dict[KeyPath, nodes.Template]]:
    """Read one file as far as it goes; the syntax trees come back for the content rules to walk."""
    reading = Reading(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reading.error((1, 1), f"cannot read the file: {exc}")
        return reading, {}
    front = read_front_matter(text, reading)
    if front is None:
        return reading, {}
    reading.front = front
    if not check_schema(front, reading):
        return reading, {}
    asts = parse_sources(env, front, reading)
    if asts is None:
        return reading, {}
    reading.template = build_template(front, asts, path)
    return reading, asts
