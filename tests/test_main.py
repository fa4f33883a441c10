"""The `bot` command line: check and templates export."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
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


def test_check_fails_without_a_main_flow_and_suggests_misspelt_keys(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An empty flows folder fails `bot check` naming the folder; a misspelt key gets "did you mean" at its place."""
    flows = tmp_path / "flows"
    flows.mkdir()
    templates = str(ROOT / "templates")
    assert main(["--env-file", "/nonexistent", "check", "--flows", str(flows), "--templates", templates]) == 1
    missing = f"{flows}:1:1: error: no 'main' flow: every conversation starts there, and the flows folder {flows}"
    assert f"{missing} has no main.yaml" in capsys.readouterr().err
    typo = "flow: main\nstart: a\nsteps:\n  - id: a\n    sya: Hi\n  - {id: b, say: x, nxt: a}\n"
    (flows / "main.yaml").write_text(typo)
    assert main(["--env-file", "/nonexistent", "check", "--flows", str(flows), "--templates", templates]) == 1
    assert capsys.readouterr().err.splitlines() == [
        f"{flows}/main.yaml:5:5: error: unknown key 'sya' in step 'a'; did you mean 'say'? "
        "a step is one of: say, ask, choose, request_location, link, form, act, http, branch, goto, call, "
        "handoff, verify, end",
        f"{flows}/main.yaml:6:21: error: unknown key 'nxt' in a say step; did you mean 'next'? "
        "allowed keys: id, say, next",
    ]


def test_serve_on_a_taken_port_says_so_in_one_line_before_anything_starts(tmp_path: Path) -> None:
    """`bot serve` on a port already in use prints one error line and no banner or token, and exits non-zero."""
    database = tmp_path / "bot.db"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BOT_", "WHATSAPP_"))}
    env["BOT_DATABASE_URL"] = f"sqlite:///{database}"
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        command = [sys.executable, "-m", "bot", "--env-file", "/dev/null", "serve", "--port", str(port)]
        done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == f"bot: error: port {port} on 127.0.0.1 is already in use; choose another with --port\n"
    assert not database.exists()  # nothing was migrated or joined


def test_worker_refuses_the_web_role_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    """`bot worker --roles web` exits 2 with one line naming the roles it takes, before reading any settings."""
    assert main(["--env-file", os.devnull, "worker", "--roles", "sender,web"]) == 2
    assert capsys.readouterr().err == (
        "bot: error: `bot worker --roles` takes sender, scheduler or dispatcher; the web role is `bot serve`'s\n"
    )


def test_a_started_service_keeps_its_start_up_heap_out_of_the_collectors_walks() -> None:
    """What lives from start-up on is frozen, so a full collection no longer walks it and holds the loop less."""
    import gc

    from bot.loop import YOUNG_COLLECTION_AFTER, freeze_startup_heap

    threshold = gc.get_threshold()
    try:
        lives = [{"row": n} for n in range(1000)]
        freeze_startup_heap()
        assert gc.get_freeze_count() >= len(lives)
        assert gc.get_threshold() == (YOUNG_COLLECTION_AFTER, *threshold[1:])
    finally:
        gc.unfreeze()
        gc.set_threshold(*threshold)
