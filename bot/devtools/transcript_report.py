"""How transcripts went: each chat as written beside the chat as it went, as a diff, and the run's summary."""

from __future__ import annotations

import difflib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path


class Mismatch(Exception):
    """The chat went otherwise than written: stop here, the lines so far show where."""


@dataclass(frozen=True)
class Result:
    """How a transcript went: `ok` when it played as written; `report` the diff (or the error) when not."""

    path: Path
    title: str
    ok: bool
    report: str = ""
    xfail: str | None = None

    @property
    def passed(self) -> bool:
        """Played as written, or failed as its `xfail:` says it does (a bug written down, not yet fixed)."""
        return self.ok != bool(self.xfail)

    @property
    def status(self) -> str:
        if self.xfail:
            return "XPASS" if self.ok else "xfail"
        return "ok" if self.ok else "FAILED"


class Diff:
    """The lines of one transcript as written (`expected`) and as the chat went (`got`), each at its file line."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.expected: list[str] = []
        self.got: list[str] = []

    def where(self, line: int) -> str:
        return f"{display(self.path)}:{line}: "

    def same(self, line: int, text: str) -> None:
        self.expected.append(self.where(line) + text)
        self.got.append(self.where(line) + text)

    def differ(self, line: int, expected: str | None, got: Sequence[str]) -> Mismatch:
        if expected is not None:
            self.expected.append(self.where(line) + expected)
        self.got += [self.where(line) + g for g in got] or [self.where(line) + "bot: nothing"]
        return Mismatch()

    def text(self) -> str:
        lines = list(
            difflib.unified_diff(self.expected, self.got, "expected", "got", n=len(self.expected), lineterm="")
        )
        return "\n".join(lines or [*self.expected[:-1], f"{self.expected[-1]}  # not as expected"])


def display(path: Path) -> str:
    """The path as the person typed it, relative to the working directory when it is below it."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def report(results: Sequence[Result]) -> tuple[str, bool]:
    """One line per transcript (a failure followed by its diff), then a summary; and whether all passed."""
    lines = []
    for result in results:
        lines.append(f"{result.status:<6} {display(result.path)}  {result.title}")
        if result.xfail:
            lines.append(f"       known bug: {result.xfail}")
        if not result.passed and result.report:
            lines += ["    " + line for line in result.report.splitlines()]
    tally = Counter(r.status for r in results)
    summary = ", ".join(f"{n} {status}" for status, n in sorted(tally.items()))
    lines.append(f"{len(results)} transcripts: {summary or 'none found'}")
    return "\n".join(lines), all(r.passed for r in results) and bool(results)
