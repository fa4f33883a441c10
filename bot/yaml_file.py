"""YAML files read with positions: the one reader behind flows, the business file, transcripts and front matter.

Parsing keeps the node tree beside the data, so every reader can point at the line and column where a key
or value was written; a syntax error becomes a `Problem` at its place instead of an exception. Booleans are
read the YAML 1.2 way, as editors validating with a JSON Schema read them: only `true` and `false`, so ids
and titles such as `yes`, `no`, `on` and `off` stay text.

libyaml parses when PyYAML was built with it (its wheels are), about nine times faster than PyYAML's own
parser: the content folders are read at every start, check and reload. It gives the same node tree, the same
positions and the same data; its error messages are worded differently, so a text it refuses is parsed again
by PyYAML's parser and that error is the one reported.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml


@dataclass(frozen=True)
class Position:
    """Where a value was written: 1-based line and column in its file."""

    line: int = 0
    column: int = 0


Severity = Literal["error", "warning"]
KeyPath = tuple[str | int, ...]


@dataclass(frozen=True)
class Problem:
    """One finding of the checker, printed the way compilers do so editors can jump to it."""

    path: Path
    line: int
    column: int
    severity: Severity
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.column}: {self.severity}: {self.message}"

    @property
    def located(self) -> str:
        """``path:line:col: message``, without the severity: how an error that stops a run reads."""
        return f"{self.path}:{self.line}:{self.column}: {self.message}"


class YamlLoader(yaml.SafeLoader):
    """PyYAML's safe loader with YAML 1.2 booleans (only true/false), so `yes` and `no` stay text."""


YamlLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
YamlLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def load_yaml(
    path: Path, text: str, *, loader: type[yaml.SafeLoader] = YamlLoader, first_line: int = 1
) -> tuple[yaml.Node | None, Any] | Problem:
    """One YAML document's node tree (None when empty) and data, or the syntax error as a `Problem` at its place.

    `first_line` is the file line the text starts on, for YAML that is part of a larger file.
    """
    fast = _with_libyaml(loader)
    if fast is not None:
        parser = fast(text)
        try:
            node = parser.get_single_node()
            return node, parser.construct_document(node) if node is not None else None
        except (yaml.YAMLError, ValueError):
            pass  # parsed again below, for PyYAML's own words and place
        finally:
            parser.dispose()
    reader = loader(text)
    try:
        node = reader.get_single_node()
        data = reader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + first_line, mark.column + 1) if mark else (1, 1)
        return Problem(path, line, column, "error", f"YAML: {exc.problem or exc.context}")
    finally:
        reader.dispose()
    return node, data


_LIBYAML: dict[type[yaml.SafeLoader], type[yaml.SafeLoader] | None] = {}


def _with_libyaml(loader: type[yaml.SafeLoader]) -> type[yaml.SafeLoader] | None:
    """`loader` with libyaml's parser and composer in place of PyYAML's, its resolvers and constructors kept."""
    if loader not in _LIBYAML:
        cparser: Any = getattr(getattr(yaml, "cyaml", None), "CParser", None)  # None: PyYAML built without libyaml

        def init(self: Any, stream: str) -> None:
            cparser.__init__(self, stream)
            yaml.constructor.SafeConstructor.__init__(self)
            yaml.resolver.Resolver.__init__(self)

        fast = None if cparser is None else type(f"C{loader.__name__}", (cparser, loader), {"__init__": init})
        _LIBYAML[loader] = fast
    return _LIBYAML[loader]


def node_position(node: yaml.Node, first_line: int = 1) -> Position:
    """Where a node starts in its file."""
    return Position(node.start_mark.line + first_line, node.start_mark.column + 1)


@dataclass
class Reading:
    """One file being read: where each key and value sits, and the problems found so far."""

    path: Path
    values: dict[KeyPath, Position] = field(default_factory=dict)
    keys: dict[KeyPath, Position] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

    def at(self, *path: str | int) -> Position:
        """Where a value starts, else its key, else the top of the file."""
        return self.values.get(path) or self.keys.get(path) or Position(1, 1)

    def key_at(self, *path: str | int) -> Position:
        return self.keys.get(path) or self.at(*path)

    def error(self, where: Position, message: str) -> None:
        self.problems.append(Problem(self.path, where.line, where.column, "error", message))

    def check_top_keys(self, data: Mapping[Any, Any], allowed: Sequence[str], required: Sequence[str]) -> None:
        """Report each top-level key the format does not know, at the key, and each required one missing."""
        for key in data:
            if key not in allowed:
                self.error(self.key_at(str(key)), unknown_key(key, allowed))
        for key in required:
            if key not in data:
                self.error(self.at(), f"missing required key {key!r}")

    @property
    def ok(self) -> bool:
        return not any(p.severity == "error" for p in self.problems)

    def sorted_problems(self) -> list[Problem]:
        return sorted(self.problems, key=lambda p: (p.line, p.column))


_T = TypeVar("_T")


def read_each(
    paths: Iterable[Path], read: Callable[[Path], tuple[_T | None, list[Problem]]], name: Callable[[_T], str]
) -> tuple[dict[str, _T], list[Problem]]:
    """Read every file of a folder with `read`: the sound ones by `name`, and the problems of all of them."""
    found: dict[str, _T] = {}
    problems: list[Problem] = []
    for path in paths:
        value, problems_here = read(path)
        problems += problems_here
        if value is not None:
            found[name(value)] = value
    return found, problems


def did_you_mean(word: object, candidates: Iterable[str]) -> str:
    """`did you mean 'say'?` for the one candidate close to a misspelt word, else nothing."""
    close = difflib.get_close_matches(str(word), list(candidates), n=1)
    return f"did you mean {close[0]!r}?" if close else ""


def unknown_key(key: object, allowed: Sequence[str], where: str = "") -> str:
    """How every file format names a key it does not know: the closest allowed key first, then all of them."""
    hint = did_you_mean(key, allowed)
    return f"unknown key {key!r}{where}; {hint + ' ' if hint else ''}allowed keys: {', '.join(allowed)}"


def read_text(reading: Reading) -> str | None:
    """The file's text, or None after reporting why it cannot be read."""
    try:
        return reading.path.read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reading.error(Position(1, 1), f"cannot read the file: {exc}")
        return None


def read_mapping(
    reading: Reading, *, loader: type[yaml.SafeLoader], what: str, at_top: bool = False
) -> tuple[str, dict[Any, Any]] | None:
    """The file's text and its YAML mapping, every position recorded; None after reporting why there is none.

    `what` says what the file should be (``a flow file is a mapping with …``); it is reported where the
    document starts, or at the top of the file with `at_top`.
    """
    text = read_text(reading)
    if text is None:
        return None
    loaded = load_yaml(reading.path, text, loader=loader)
    if isinstance(loaded, Problem):
        reading.problems.append(loaded)
        return None
    node, data = loaded
    if node is None or not isinstance(data, dict):
        reading.error(node_position(node) if node is not None and not at_top else Position(1, 1), what)
        return None
    walk(node, (), reading, set())
    return text, data


def walk(node: yaml.Node, path: KeyPath, reading: Reading, above: set[int]) -> None:
    """Record where every key and value below `node` starts; report keys written twice."""
    reading.values[path] = node_position(node)
    if id(node) in above:  # an alias of a node that contains it
        return
    inside = above | {id(node)}
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key, value in node.value:
            child = (*path, str(key.value))
            if child[-1] in seen:
                reading.error(node_position(key), f"duplicate key {key.value!r}")
            seen.add(str(key.value))
            reading.keys.setdefault(child, node_position(key))
            walk(value, child, reading, inside)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            walk(item, (*path, index), reading, inside)
