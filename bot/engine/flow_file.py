"""Reads flow files (`flows/<name>.yaml`) into `bot.engine.flow.Flow`s, remembering where every value was written.

Reading never raises on a bad file: it returns the flow when the file is sound and every `Problem` it
found, each at the line and column of the key or value at fault, so `bot check` reports all mistakes in
one run. References between steps, flows, templates and actions are `bot.engine.flow_check`'s job. The YAML
itself (positions, YAML 1.2 booleans as `flows/flow.schema.json` reads them) is `bot.yaml_file`'s.

The format itself (step kinds, their keys, what each requires, the kind of value each key takes) is declared
once in `bot.engine.flow_format`, which also gives `flows/flow.schema.json`; this module reads each kind of
value (`VALUE_READERS`) and says exactly what is wrong and where.

Why one module of about 700 lines: it is one reader with one function per kind of value, all threading the
same positions and problem list; they change together with the format.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, cast

from bot.engine.flow import (
    MEDIA_SENDS,
    AnyStep,
    Case,
    FieldKind,
    Flow,
    FormField,
    Header,
    Media,
    MediaFormat,
    Option,
    Text,
    Validator,
    ValidatorKind,
)
from bot.engine.flow_format import ALL_STEP_KEYS, BY_NAME, KIND_NAMES, TOP_KEYS, TOP_REQUIRED, VALUES
from bot.language.words import INTENT_NAMES
from bot.whatsapp.message_body import FILENAME_MAX
from bot.yaml_file import (
    KeyPath,
    Position,
    Problem,
    Reading,
    YamlLoader,
    did_you_mean,
    read_each,
    read_mapping,
    unknown_key,
)

SUFFIX = ".yaml"
KINDS = KIND_NAMES
OPTION_KEYS = ("id", "title", "description", "next", "synonyms")
CASE_KEYS = ("if", "goto")
TEXT_KEYS = ("template", "values")
MEDIA_KEYS = ("caption", "filename")
MEDIA_FORM = "{image: FILE or URL, caption: TEXT}, or document (with filename), video or audio (no caption)"
PLAIN_VALIDATORS = ("text", "time", "datetime", "phone", "email", "number", "date", "image", "document", "location")
VALIDATOR_FORMS = (
    "text, time, datetime, phone, email, number, date, image, document, location, {pattern: REGEX}, "
    "{number: {min: N, max: N}}, "
    "{date: {min_days: N, max_days: N}}, {choice: [A, B]}, {custom: NAME}"
)
IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]*")
LANGUAGE = re.compile(r"[a-z]{2,3}(_[A-Z]{2})?")  # as template files name theirs: en, pt_BR
DOTTED = re.compile(r"[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)*")
SCREEN = re.compile(r"[A-Za-z_]+")  # Meta: a screen id is letters and underscores
FLOW_ID = re.compile(r"[0-9]{1,30}")
FIELD_KINDS = ("text", "number", "date", "choice", "list", "boolean")
FORM_ACTIONS = ("navigate", "data_exchange")
FLOW_CTA = 30  # Meta's advice for the Flow's button
DURATION = re.compile(r"([1-9][0-9]*)([smhd])")
UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
# Names a slot may not take: the contact, and the words of branch expressions.
RESERVED = ("contact", "and", "or", "not", "in", "is", "none", "true", "false")
IDENTIFIER_RULE = "must be lowercase letters, digits and underscores, not starting with a digit"

BAD: Any = object()  # what a reader returns after reporting an error


FlowLoader = YamlLoader  # what flow files are read with


@dataclass(frozen=True)
class LocatedFlow(Flow):
    """A `Flow` that knows where each of its values was written, so checks can point at them.

    Keys are YAML paths with steps named by id: ``("steps", "menu", "options", 2, "title")``. This
    belongs on `Flow` itself; until it is there, the reader returns this subclass.
    """

    positions: Mapping[KeyPath, Position] = field(default_factory=dict, compare=False, repr=False)


def flow_files(folder: Path) -> list[Path]:
    """Every flow file in `folder`, sorted so reports are stable."""
    return sorted(p for p in folder.glob(f"*{SUFFIX}") if p.is_file())


def load_flows(folder: Path) -> tuple[dict[str, Flow], list[Problem]]:
    """Every sound flow in `folder` by name, and the problems of all its files.

    A missing folder is a warning, not an error: settings and templates can be checked on their own.
    """
    if not folder.is_dir():
        return {}, [Problem(folder, 1, 1, "warning", "the flows folder does not exist")]
    ignored = f"flow files end in {SUFFIX}; this file is not read"
    problems = [Problem(path, 1, 1, "warning", ignored) for path in sorted(folder.glob("*.yml"))]
    flows, found = read_each(flow_files(folder), read_flow, lambda flow: flow.name)
    return flows, problems + found


def read_flow(path: Path) -> tuple[Flow | None, list[Problem]]:
    """Read one file: the flow if it is sound (None otherwise), and every problem found in it."""
    reading = Reading(path)
    read = read_mapping(reading, loader=FlowLoader, what="a flow file is a mapping with 'flow', 'start' and 'steps'")
    if read is None:
        return None, reading.problems
    text, data = read
    flow = _read_flow(data, reading, hashlib.sha256(text.encode("utf-8")).hexdigest()[:12])
    return flow, reading.sorted_problems()


# --- the flow ---------------------------------------------------------------------------------------


def _read_flow(data: dict[Any, Any], reading: Reading, version: str) -> Flow | None:
    reading.check_top_keys(data, TOP_KEYS, TOP_REQUIRED)
    name = _read_name(data, reading)
    description = data.get("description", "")
    if not isinstance(description, str):
        reading.error(reading.at("description"), "'description' must be a string")
    start = _target(reading, data["start"], ("start",)) if "start" in data else BAD
    idle = read_duration(reading, data["idle_timeout"], ("idle_timeout",)) if "idle_timeout" in data else None
    steps, items_ids = _read_steps(data["steps"], reading) if "steps" in data else ({}, {})
    intent = data.get("intent")
    if intent is not None and intent not in INTENT_NAMES:
        hint = did_you_mean(str(intent), INTENT_NAMES)
        message = f"'intent' must be one of {', '.join(INTENT_NAMES)}" + (f"; {hint}" if hint else "")
        reading.error(reading.at("intent"), message)
    if not reading.ok:
        return None
    extra: dict[str, Any] = {"idle_timeout": idle} if idle is not None else {}
    if intent is not None:
        extra["intent"] = intent
    return LocatedFlow(
        name=name,
        start=start,
        steps=steps,
        version=version,
        description=description,
        path=str(reading.path),
        positions=_by_step_id(reading.values, items_ids),
        **extra,
    )


def _read_name(data: dict[Any, Any], reading: Reading) -> str:
    name = data.get("flow")
    stem = reading.path.name.removesuffix(SUFFIX)
    if "flow" not in data:
        return stem
    if not isinstance(name, str):
        reading.error(reading.at("flow"), "'flow' must be the flow's name, a string")
    elif name != stem:
        reading.error(reading.at("flow"), f"flow {name!r} does not match the file name {stem!r}")
    elif not IDENTIFIER.fullmatch(name):
        reading.error(reading.at("flow"), f"flow name {name!r} {IDENTIFIER_RULE}")
    return stem


def _read_steps(items: Any, reading: Reading) -> tuple[dict[str, AnyStep], dict[int, str]]:
    """The steps by id, and which list item each id came from (for positions)."""
    if not isinstance(items, list) or not items:
        reading.error(reading.at("steps"), "'steps' must be a list of one or more steps")
        return {}, {}
    steps: dict[str, AnyStep] = {}
    items_ids: dict[int, str] = {}
    for index, item in enumerate(items):
        step = _read_step(item, index, reading)
        if step is None:
            continue
        if step.id in steps:
            first = steps[step.id].position.line
            reading.error(step.position, f"duplicate step id {step.id!r}; the first is on line {first}")
            continue
        steps[step.id] = step
        items_ids[index] = step.id
    return steps, items_ids


def _by_step_id(values: Mapping[KeyPath, Position], items_ids: Mapping[int, str]) -> dict[KeyPath, Position]:
    """Positions keyed with steps named by id, ``("steps", "menu", ...)``, which is how checks know a step."""
    located: dict[KeyPath, Position] = {}
    for path, position in values.items():
        if path[:1] != ("steps",) or len(path) < 2:
            located[path] = position
        elif isinstance(path[1], int) and path[1] in items_ids:
            located[("steps", items_ids[path[1]], *path[2:])] = position
    return located


# --- steps ------------------------------------------------------------------------------------------


def _read_step(item: Any, index: int, reading: Reading) -> AnyStep | None:
    base: KeyPath = ("steps", index)
    if not isinstance(item, dict):
        reading.error(reading.at(*base), f"step {index + 1} must be a mapping with an 'id' and one of: {_kinds()}")
        return None
    step_id = item.get("id")
    position = reading.at(*base, "id") if "id" in item else reading.at(*base)
    label = repr(step_id) if isinstance(step_id, str) else str(index + 1)
    errors = len(reading.problems)
    if "id" not in item:
        reading.error(position, f"step {index + 1} has no 'id'")
    elif not isinstance(step_id, str) or not IDENTIFIER.fullmatch(step_id):
        reading.error(position, f"step id {step_id!r} {IDENTIFIER_RULE}")
    kinds = [key for key in item if key in KINDS]
    if not kinds:
        misspelt = [(key, hint) for key in item if key not in ALL_STEP_KEYS and (hint := did_you_mean(key, KINDS))]
        if misspelt:  # `sya: Hi`: point at the key, not at the step
            key, hint = misspelt[0]
            where = reading.key_at(*base, str(key))
            reading.error(where, f"unknown key {key!r} in step {label}; {hint} a step is one of: {_kinds()}")
        else:
            reading.error(position, f"step {label} needs one of: {_kinds()}")
        return None
    if len(kinds) > 1:
        where = reading.key_at(*base, kinds[1])
        both = f"step {label} has both {kinds[0]!r} and {kinds[1]!r}"
        reading.error(where, f"{both}; a step is exactly one of: {_kinds()}")
        return None
    kind = kinds[0]
    fields = _read_fields(item, kind, base, reading)
    for needed in _required(kind, item):
        reading.error(position, f"{_article(kind)} {kind} step needs {needed}")
    if len(reading.problems) > errors:
        return None
    return BY_NAME[kind].model(id=step_id, position=position, **fields)


def _read_fields(item: dict[Any, Any], kind: str, base: KeyPath, reading: Reading) -> dict[str, Any]:
    """Each key of a step read by its value's reader, under the model's name for it; unknown keys reported."""
    spec = BY_NAME[kind]
    allowed = spec.allowed
    fields: dict[str, Any] = {}
    for key, value in item.items():
        if key == "id":
            continue
        if key not in allowed:
            message = unknown_key(key, allowed, f" in {_article(kind)} {kind} step")
            reading.error(reading.key_at(*base, str(key)), message)
            continue
        value = VALUE_READERS[spec.keys[key].value](reading, value, (*base, key))
        if isinstance(value, Media):  # `say` sending a file
            fields["media"] = value
        elif value is not BAD:
            fields[spec.field_of(key)] = value
    return fields


def _required(kind: str, item: dict[Any, Any]) -> list[str]:
    """What the step lacks of the keys its kind requires, as the error message names them."""
    spec = BY_NAME[kind]
    missing = [repr(key) for key in spec.required if key not in item]
    if spec.one_of and not any(key in item for key in spec.one_of):
        missing.append(" or ".join(repr(key) for key in spec.one_of))
    return missing


def _kinds() -> str:
    return ", ".join(KINDS)


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


# --- values -----------------------------------------------------------------------------------------


def _text(reading: Reading, value: Any, path: KeyPath) -> Any:
    if isinstance(value, str):
        if not value.strip():
            reading.error(reading.at(*path), f"{path[-1]!r} is empty")
            return BAD
        return Text(inline=value)
    if isinstance(value, dict) and value and "template" not in value:
        return _texts_by_language(reading, value, path)
    if not isinstance(value, dict) or "template" not in value:
        reading.error(
            reading.at(*path),
            f"{path[-1]!r} must be a text, texts by language {{en: TEXT, pt_BR: TEXT}} "
            "or {template: NAME, values: {NAME: TEXT}}",
        )
        return BAD
    ok = True
    for key in value:
        if key not in TEXT_KEYS:
            where = reading.key_at(*path, str(key))
            reading.error(where, unknown_key(key, TEXT_KEYS, " in a template text"))
            ok = False
    if not isinstance(value["template"], str):
        reading.error(reading.at(*path, "template"), "'template' must be a template's name")
        ok = False
    values = _texts_by_name(reading, value.get("values", {}), (*path, "values"))
    if not ok or values is BAD:
        return BAD
    return Text(template=value["template"], values=values)


def _say(reading: Reading, value: Any, path: KeyPath) -> Any:
    """A text, or a file to send: ``{document: media/terms.pdf, caption: TEXT, filename: terms.pdf}``."""
    if isinstance(value, dict) and any(key in value for key in MEDIA_SENDS):
        return _media(reading, value, path)
    return _text(reading, value, path)


def _media(reading: Reading, value: dict[Any, Any], path: KeyPath) -> Any:
    kinds = [key for key in value if key in MEDIA_SENDS]
    kind = kinds[0]
    ok = len(kinds) == 1
    if not ok:
        reading.error(reading.key_at(*path, kinds[1]), f"a say sends one file, not both {kinds[0]!r} and {kinds[1]!r}")
    allowed = (kind, "caption") if kind in ("image", "video") else (kind,) if kind == "audio" else (kind, *MEDIA_KEYS)
    for key in value:
        if key not in allowed and key not in MEDIA_SENDS:
            message = unknown_key(key, allowed, f" in {_article(kind)} {kind} to send")
            reading.error(reading.key_at(*path, str(key)), message)
            ok = False
    source = value[kind]
    if not isinstance(source, str) or not source.strip():
        reading.error(reading.at(*path, kind), f"{kind!r} must be a file in the flows folder or an https URL")
        return BAD
    caption = _text(reading, value["caption"], (*path, "caption")) if "caption" in value else None
    if caption is not None and caption is not BAD and caption.template is not None:
        reading.error(reading.at(*path, "caption"), "a caption is a text or texts by language, not a template")
        caption = BAD
    filename = value.get("filename")
    if filename is not None and (not isinstance(filename, str) or not filename.strip() or "/" in filename):
        reading.error(reading.at(*path, "filename"), "'filename' must be a file name, without folders")
        ok = False
    elif filename is not None and len(filename) > FILENAME_MAX:
        reading.error(
            reading.at(*path, "filename"), f"'filename' is {len(filename)} characters; at most {FILENAME_MAX}"
        )
        ok = False
    if not ok or caption is BAD:
        return BAD
    link = source.strip() if source.strip().startswith(("https://", "http://")) else None
    file = None if link else source.strip()
    return Media(kind, file=file, link=link, caption=caption, filename=filename)


def _texts_by_language(reading: Reading, value: dict[Any, Any], path: KeyPath) -> Any:
    """``{en: TEXT, pt_BR: TEXT}``: one text per language code, each a non-empty string."""
    found: dict[str, str] = {}
    for key, item in value.items():
        code = str(key)
        if not LANGUAGE.fullmatch(code):
            hint = " (or is it a template text? it needs 'template')" if code in TEXT_KEYS else ""
            reading.error(
                reading.key_at(*path, code),
                f"{code!r} is not a language code such as en, es or pt_BR{hint}",
            )
            return BAD
        if not isinstance(item, str) or not item.strip():
            reading.error(reading.at(*path, code), f"the {code} text of {path[-1]!r} must be a non-empty text")
            return BAD
        found[code] = item
    return Text(languages=found)


def _optional_text(reading: Reading, value: Any, path: KeyPath) -> Any:
    return None if value is None else _text(reading, value, path)


def _texts_by_name(reading: Reading, value: Any, path: KeyPath) -> Any:
    """A mapping of names to Jinja texts; numbers are taken as their text."""
    if not isinstance(value, dict):
        reading.error(reading.at(*path), f"{path[-1]!r} must map names to texts")
        return BAD
    found: dict[str, str] = {}
    for key, item in value.items():
        if isinstance(item, bool) or not isinstance(item, str | int | float):
            reading.error(reading.at(*path, str(key)), f"{path[-1]!r} value for {key!r} must be a text")
            return BAD
        found[str(key)] = str(item)
    return found


def _target(reading: Reading, value: Any, path: KeyPath) -> Any:
    if not isinstance(value, str) or not value:
        reading.error(reading.at(*path), f"{path[-1]!r} must be a step id")
        return BAD
    return value


def _flow_name(reading: Reading, value: Any, path: KeyPath) -> Any:
    if not isinstance(value, str) or not value:
        reading.error(reading.at(*path), "'call' must be a flow's name")
        return BAD
    return value


def _named(what: str, pattern: re.Pattern[str], rule: str) -> Callable[[Reading, Any, KeyPath], Any]:
    def read(reading: Reading, value: Any, path: KeyPath) -> Any:
        if not isinstance(value, str) or not pattern.fullmatch(value):
            reading.error(reading.at(*path), f"{what} {value!r} {rule}")
            return BAD
        return value

    return read


def _slot(reading: Reading, value: Any, path: KeyPath) -> Any:
    if isinstance(value, str) and value in RESERVED:
        reading.error(reading.at(*path), f"slot name {value!r} is reserved")
        return BAD
    return _named("slot name", IDENTIFIER, IDENTIFIER_RULE)(reading, value, path)


def parse_duration(text: str) -> timedelta | None:
    """A duration as flow files, transcripts and `bot chat` write it (30s, 10m, 2h, 1d); None if it is not one."""
    match = DURATION.fullmatch(text)
    return timedelta(**{UNITS[match[2]]: int(match[1])}) if match else None


def read_duration(reading: Reading, value: Any, path: KeyPath) -> Any:
    duration = parse_duration(value) if isinstance(value, str) else None
    if duration is None:
        reading.error(reading.at(*path), f"duration '{value}': use 30s, 10m, 2h or 1d")
        return BAD
    return duration


def _attempts(reading: Reading, value: Any, path: KeyPath) -> Any:
    if type(value) is not int or value < 1:
        reading.error(reading.at(*path), f"{path[-1]!r} must be a whole number, 1 or more")
        return BAD
    return value


def _flag(reading: Reading, value: Any, path: KeyPath) -> Any:
    if not isinstance(value, bool):
        reading.error(reading.at(*path), f"{path[-1]!r} must be true or false")
        return BAD
    return value


def _label(reading: Reading, value: Any, path: KeyPath) -> Any:
    if not isinstance(value, str) or not value.strip():
        reading.error(reading.at(*path), f"{path[-1]!r} must be a text")
        return BAD
    return value


def _options(reading: Reading, value: Any, path: KeyPath) -> Any:
    if not isinstance(value, list) or not value:
        reading.error(reading.at(*path), "'options' must be a list of one or more {id, title} options")
        return BAD
    options: list[Option] = []
    first: dict[str, int] = {}
    for index, item in enumerate(value):
        where = (*path, index)
        if not isinstance(item, dict):
            reading.error(reading.at(*where), f"option {index + 1} must be a mapping with 'id' and 'title'")
            continue
        fine = _known_keys(reading, item, where, OPTION_KEYS, "an option")
        for key in ("id", "title"):
            if key not in item:
                reading.error(reading.at(*where), f"option {index + 1} has no {key!r}")
                fine = False
            elif not isinstance(item[key], str) or not item[key]:
                reading.error(reading.at(*where, key), f"option {index + 1} {key!r} must be a text; quote it")
                fine = False
        if "description" in item and not isinstance(item["description"], str):
            reading.error(reading.at(*where, "description"), f"option {index + 1} 'description' must be a text")
            fine = False
        goes = _target(reading, item["next"], (*where, "next")) if "next" in item else None
        synonyms = _synonyms(reading, item["synonyms"], (*where, "synonyms")) if "synonyms" in item else ()
        if not fine or goes is BAD or synonyms is None:
            continue
        if item["id"] in first:
            message = f"duplicate option id {item['id']!r}; the first is option {first[item['id']] + 1}"
            reading.error(reading.at(*where, "id"), message)
            continue
        first[item["id"]] = index
        options.append(Option(item["id"], item["title"], item.get("description"), goes, synonyms))
    return tuple(options)


def _synonyms(reading: Reading, value: Any, path: KeyPath) -> tuple[str, ...] | None:
    """Other words for an option: a list of texts, or one list per language (``en``, ``pt_BR``)."""
    lists = value if isinstance(value, dict) else {None: value}
    found: list[str] = []
    for language, words in lists.items():
        where = path if language is None else (*path, language)
        if language is not None and not LANGUAGE.fullmatch(str(language)):
            reading.error(reading.key_at(*where), f"{language!r} is not a language code such as en, es or pt_BR")
            return None
        if not isinstance(words, list) or not all(isinstance(w, str) and w.strip() for w in words):
            reading.error(reading.at(*where), "'synonyms' must be a list of texts, or one list per language")
            return None
        found += words
    return tuple(found)


HEADER_FORMS = "a text, {image: URL}, {video: URL} or {document: URL, filename: NAME} (a URL or a media id)"
MEDIA: tuple[MediaFormat, ...] = ("image", "video", "document")


def _header(reading: Reading, value: Any, path: KeyPath) -> Any:
    """A text, or one file by URL or media id (Jinja over the slots); a document may name its file."""
    if isinstance(value, str) and value.strip():
        return Header(text=value)
    formats = [key for key in value if key in MEDIA] if isinstance(value, dict) else []
    if len(formats) != 1:
        reading.error(reading.at(*path), f"'header' must be {HEADER_FORMS}")
        return BAD
    media: MediaFormat = formats[0]
    allowed = (media, "filename") if media == "document" else (media,)
    if not _known_keys(reading, value, path, allowed, "a header"):
        return BAD
    for key in allowed:
        if key in value and (not isinstance(value[key], str) or not value[key].strip()):
            reading.error(reading.at(*path, key), f"the header's {key!r} must be a text; quote it")
            return BAD
    return Header(media=media, source=value[media], filename=value.get("filename"))


def _url(reading: Reading, value: Any, path: KeyPath) -> Any:
    if not isinstance(value, str) or not value.strip():
        reading.error(reading.at(*path), "'url' must be an https:// address (Jinja over the slots allowed)")
        return BAD
    return value.strip()


def _cases(reading: Reading, value: Any, path: KeyPath) -> Any:
    if not isinstance(value, list) or not value:
        reading.error(reading.at(*path), "'branch' must be a list of one or more {if, goto} cases")
        return BAD
    cases: list[Case] = []
    for index, item in enumerate(value):
        where = (*path, index)
        if not isinstance(item, dict):
            reading.error(reading.at(*where), f"case {index + 1} must be a mapping with 'if' and 'goto'")
            continue
        fine = _known_keys(reading, item, where, CASE_KEYS, "a branch case")
        for key in CASE_KEYS:
            if key not in item:
                reading.error(reading.at(*where), f"case {index + 1} has no {key!r}")
                fine = False
        if "if" in item and (not isinstance(item["if"], str) or not item["if"].strip()):
            reading.error(reading.at(*where, "if"), f"case {index + 1} 'if' must be an expression; quote it")
            fine = False
        goto = _target(reading, item["goto"], (*where, "goto")) if "goto" in item else BAD
        if fine and goto is not BAD:
            cases.append(Case(item["if"], goto, reading.at(*where)))
    return tuple(cases)


def _known_keys(reading: Reading, item: dict[Any, Any], path: KeyPath, allowed: tuple[str, ...], what: str) -> bool:
    unknown = [key for key in item if key not in allowed]
    for key in unknown:
        reading.error(reading.key_at(*path, str(key)), unknown_key(key, allowed, f" in {what}"))
    return not unknown


def _validator(reading: Reading, value: Any, path: KeyPath) -> Any:
    if isinstance(value, str) and value in PLAIN_VALIDATORS:
        return Validator(kind=cast(ValidatorKind, value))
    if isinstance(value, dict) and len(value) == 1:
        kind, spec = next(iter(value.items()))
        read = VALIDATOR_READERS.get(kind)
        if read is not None:
            return read(reading, spec, (*path, str(kind)))
    shown = next(iter(value)) if isinstance(value, dict) and value else value
    reading.error(reading.at(*path), f"validator {shown!r} is not one of: {VALIDATOR_FORMS}")
    return BAD


def _pattern(reading: Reading, spec: Any, path: KeyPath) -> Any:
    if not isinstance(spec, str):
        reading.error(reading.at(*path), "'pattern' must be a regular expression; quote it")
        return BAD
    try:
        re.compile(spec)
    except re.error as exc:
        reading.error(reading.at(*path), f"pattern {spec!r}: {exc}")
        return BAD
    return Validator(kind="pattern", pattern=spec)


def _bounds(reading: Reading, spec: Any, path: KeyPath, names: tuple[str, str], whole: bool) -> Any:
    """``{min, max}`` or ``{min_days, max_days}``, both optional: numbers (whole for days), low to high."""
    spec = {} if spec is None else spec
    if not isinstance(spec, dict):
        reading.error(reading.at(*path), f"{path[-1]!r} takes {{{names[0]}: N, {names[1]}: N}}")
        return BAD
    if not _known_keys(reading, spec, path, names, f"{path[-1]!r}"):
        return BAD
    kinds = int if whole else int | float
    for key in names:
        number = spec.get(key)
        if number is not None and (isinstance(number, bool) or not isinstance(number, kinds)):
            reading.error(reading.at(*path, key), f"{key!r} must be a {'whole ' if whole else ''}number")
            return BAD
    low, high = spec.get(names[0]), spec.get(names[1])
    if low is not None and high is not None and low > high:
        reading.error(reading.at(*path, names[0]), f"{names[0]} {low} is more than {names[1]} {high}")
        return BAD
    return low, high


def _number(reading: Reading, spec: Any, path: KeyPath) -> Any:
    bounds = _bounds(reading, spec, path, ("min", "max"), whole=False)
    return bounds if bounds is BAD else Validator(kind="number", minimum=bounds[0], maximum=bounds[1])


def _date(reading: Reading, spec: Any, path: KeyPath) -> Any:
    bounds = _bounds(reading, spec, path, ("min_days", "max_days"), whole=True)
    return bounds if bounds is BAD else Validator(kind="date", min_days=bounds[0], max_days=bounds[1])


def _choice(reading: Reading, spec: Any, path: KeyPath) -> Any:
    if not isinstance(spec, list) or not spec or not all(isinstance(c, str) and c for c in spec):
        reading.error(reading.at(*path), "'choice' must be a list of one or more texts")
        return BAD
    return Validator(kind="choice", choices=tuple(spec))


def _custom(reading: Reading, spec: Any, path: KeyPath) -> Any:
    name = _named("validator name", DOTTED, "must be lowercase names joined by dots")(reading, spec, path)
    return name if name is BAD else Validator(kind="custom", name=name)


def _line(limit: int) -> Callable[[Reading, Any, KeyPath], Any]:
    """A one-line text of at most `limit` characters: a Flow's button, header or footer."""

    def read(reading: Reading, value: Any, path: KeyPath) -> Any:
        if _label(reading, value, path) is BAD:
            return BAD
        if len(value) > limit:
            reading.error(reading.at(*path), f"{path[-1]!r} is {len(value)} characters; at most {limit}")
            return BAD
        return value

    return read


def _one_of(choices: tuple[str, ...]) -> Callable[[Reading, Any, KeyPath], Any]:
    def read(reading: Reading, value: Any, path: KeyPath) -> Any:
        if value not in choices:
            reading.error(reading.at(*path), f"{path[-1]!r} must be one of: {', '.join(choices)}")
            return BAD
        return value

    return read


def _fields(reading: Reading, value: Any, path: KeyPath) -> Any:
    """A form's answers: ``{NAME: KIND}`` or ``{NAME: {type: KIND, required: BOOL}}``; each fills slot NAME."""
    if not isinstance(value, dict) or not value:
        reading.error(reading.at(*path), "'fields' maps each answer's name to its kind or {type, required}")
        return BAD
    found: dict[str, FormField] = {}
    for name, spec in value.items():
        where = (*path, str(name))
        if not isinstance(name, str) or not IDENTIFIER.fullmatch(name) or name in RESERVED:
            message = f"field name {name!r} is a slot's name: {IDENTIFIER_RULE}, not reserved"
            reading.error(reading.key_at(*where), message)
            return BAD
        kind, required = (spec.get("type", "text"), spec.get("required")) if isinstance(spec, dict) else (spec, False)
        if isinstance(spec, dict) and not _known_keys(reading, spec, where, ("type", "required"), "a form field"):
            return BAD
        if kind not in FIELD_KINDS:
            hint = did_you_mean(str(kind), FIELD_KINDS)
            message = f"field kind {kind!r} is not one of: {', '.join(FIELD_KINDS)}" + (f"; {hint}" if hint else "")
            reading.error(reading.at(*where), message)
            return BAD
        if required is not None and not isinstance(required, bool):
            reading.error(reading.at(*where, "required"), "'required' must be true or false")
            return BAD
        found[str(name)] = FormField(cast(FieldKind, kind), bool(required))
    return found


# How each kind of value (`bot.engine.flow_format.VALUES`) is read: checked, with the error at its place.
VALUE_READERS: dict[str, Callable[[Reading, Any, KeyPath], Any]] = {
    "text": _text,
    "say": _say,
    "optional_text": _optional_text,
    "target": _target,
    "slot": _slot,
    "duration": read_duration,
    "validator": _validator,
    "attempts": _attempts,
    "flag": _flag,
    "label": _label,
    "footer": _label,
    "header": _header,
    "url": _url,
    "options": _options,
    "cases": _cases,
    "texts": _texts_by_name,
    "action": _named("action name", DOTTED, "must be lowercase names joined by dots, like orders.lookup"),
    "endpoint": _named("endpoint name", IDENTIFIER, IDENTIFIER_RULE),
    "purpose": _named("purpose", IDENTIFIER, IDENTIFIER_RULE),
    "flow_name": _flow_name,
    "flow_json": _named("Flow JSON name", IDENTIFIER, IDENTIFIER_RULE),
    "flow_id": _named("flow_id", FLOW_ID, "must be Meta's numeric Flow id; quote it"),
    "screen": _named("screen id", SCREEN, "must be letters and underscores, as Meta's screen ids"),
    "cta": _line(FLOW_CTA),
    "form_action": _one_of(FORM_ACTIONS),
    "fields": _fields,
}
assert VALUE_READERS.keys() == VALUES.keys(), "every kind of value has a reader and a schema"
VALIDATOR_READERS: dict[str, Callable[[Reading, Any, KeyPath], Any]] = {
    "pattern": _pattern,
    "number": _number,
    "date": _date,
    "choice": _choice,
    "custom": _custom,
}
