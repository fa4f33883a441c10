"""The `bot` command line: check and templates export."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.__main__ import main

ROOT = Path(__file__).resolve().parents[1]


def test_check_passes_on_the_shipped_templates(capsys: pytest.CaptureFixture[str]) -> None:
    """`bot check` exits 0 on the shipped templates and says so."""
    assert main(["--env-file", "/nonexistent", "check", "--templates", str(ROOT / "templates")]) == 0
    assert "templates: 0 error(s), 0 warning(s)" in capsys.readouterr().out


def test_check_reports_positions_and_fails_on_errors(capsys: pytest.CaptureFixture[str]) -> None:
    """`bot check` prints each problem as path:line:col and exits 1 when any is an error."""
    broken = ROOT / "tests" / "templates_broken"
    assert main(["--env-file", "/nonexistent", "check", "--templates", str(broken)]) == 1
    err = capsys.readouterr().err
    assert f"{broken}/utility/unknown_category.en.md.j2:3:11: error: unknown category 'transactional'" in err


def test_templates_export_writes_creation_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`bot templates export -o FILE` writes Meta's creation JSON for every template bound for Meta."""
    out = tmp_path / "templates.json"
    assert main(["templates", "export", "--templates", str(ROOT / "templates"), "--output", str(out)]) == 0
    documents = json.loads(out.read_text())
    assert {d["category"] for d in documents} == {"UTILITY", "AUTHENTICATION", "MARKETING"}
    assert all(d["name"] and d["language"] and d["components"] for d in documents)
