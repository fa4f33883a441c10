"""Plug-ins from installed distributions' entry points, and `bot check` knowing them and the endpoints."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.__main__ import main
from bot.inbound.content import check_content
from bot.inbound.plugin import ACTION_GROUP, VALIDATOR_GROUP, load_plugins

ROOT = Path(__file__).parents[2]

PLUGIN_MODULE = '''\
"""A business's own plug-in: a loyalty action and a membership-number validator."""


async def points(ctx, args):
    return {"points": 120, "wa_id": ctx.contact.wa_id}


def member_number(answer):
    digits = answer.replace(" ", "")
    if not (digits.isdigit() and len(digits) == 8):
        raise ValueError("A member number has 8 digits, like 1234 5678.")
    return digits


def not_async(ctx, args):
    return None
'''
ENTRY_POINTS = f"""\
[{ACTION_GROUP}]
loyalty.points = shop_plugin:points
orders.recent = shop_plugin:points
loyalty.broken = shop_plugin:missing
loyalty.sync = shop_plugin:not_async

[{VALIDATOR_GROUP}]
member.number = shop_plugin:member_number
"""
FLOW = """\
flow: main
start: member
steps:
  - id: member
    ask: What is your member number?
    slot: member
    validate: {custom: member.number}
    on_exhausted: done
    next: points
  - {id: points, act: loyalty.points, result: loyalty, on_error: done, next: fetch}
  - {id: fetch, http: shop_points, result: shop, on_error: done, next: typo}
  - {id: typo, act: loyalty.pionts, on_error: done, next: done}
  - {id: done, end: "Thanks {{ member }} {{ loyalty }} {{ shop }}"}
"""
ENDPOINTS = """\
endpoints:
  shop_points:
    url: https://shop.example/points
    auth: {bearer: SHOP_POINTS_TOKEN}
    returns: {points: integer}
  shop_bad:
    url: ftp://shop.example/
    method: FETCH
actions:
  orders.nowhere: shop_points
"""


@pytest.fixture
def plugin(tmp_path: Path) -> Iterator[Path]:
    """A tiny plug-in distribution installed in a temporary folder on sys.path: a module and its dist-info."""
    site = tmp_path / "site"
    (site / "shop_plugin-1.0.dist-info").mkdir(parents=True)
    (site / "shop_plugin.py").write_text(PLUGIN_MODULE)
    info = site / "shop_plugin-1.0.dist-info"
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: shop-plugin\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(ENTRY_POINTS)
    sys.path.insert(0, str(site))
    try:
        yield info / "entry_points.txt"
    finally:
        sys.path.remove(str(site))
        sys.modules.pop("shop_plugin", None)


def test_plugins_add_actions_and_validators_and_report_what_they_cannot(plugin: Path) -> None:
    """A sound plug-in is added beside the built-ins; a clash, an import error or a sync action is reported."""
    found = load_plugins()
    assert found.actions["loyalty.points"].__module__ == "shop_plugin"
    assert found.actions["orders.recent"].__module__ == "bot.inbound.actions"  # a built-in stays itself
    assert found.validators["member.number"]("1234 5678") == "12345678"
    assert [(p.path, p.line, p.message.split(" (")[0]) for p in found.problems] == [
        (plugin, 3, "action 'orders.recent' is already registered; plug-in names must be new"),
        (plugin, 4, "cannot load action 'loyalty.broken'"),
        (plugin, 5, "action 'loyalty.sync'"),
    ]


async def test_a_plugin_validator_and_action_run_in_a_conversation(plugin: Path, tmp_path: Path) -> None:
    """A transcript uses the plug-in's validator (refusing with its own words) and its action's result."""
    from bot.devtools.transcript import run_transcript

    (tmp_path / "flows").mkdir()
    (tmp_path / "flows" / "main.yaml").write_text(FLOW.replace("next: fetch", "next: done"))
    transcript = tmp_path / "chat.yaml"
    transcript.write_text(f"""\
transcript: plug-ins
flows: {tmp_path / "flows"}
steps:
  - customer: hi
  - bot: What is your member number?
  - customer: "12"
  - bot: A member number has 8 digits, like 1234 5678.
  - bot: What is your member number?
  - customer: 1234 5678
  - bot: "Thanks 12345678 {{'points': 120, 'wa_id': '31612345678'}}"
""")
    result = await run_transcript(transcript)
    assert result.ok, result.report


def test_bot_check_knows_plugins_and_endpoints(
    plugin: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Unknown actions and endpoints, a bad endpoints file and a broken plug-in are errors at path:line:col."""
    (tmp_path / "flows").mkdir()
    (tmp_path / "flows" / "main.yaml").write_text(FLOW)
    (tmp_path / "endpoints.yaml").write_text(ENDPOINTS)
    monkeypatch.delenv("SHOP_POINTS_TOKEN", raising=False)
    flows, endpoints = tmp_path / "flows" / "main.yaml", tmp_path / "endpoints.yaml"
    args = ["--env-file", "/nonexistent", "check", "--flows", str(tmp_path / "flows")]
    assert main([*args, "--templates", str(ROOT / "templates")]) == 1
    out = capsys.readouterr()
    errors = out.err.splitlines()
    assert f"{flows}:12:21: error: unknown action 'loyalty.pionts'; did you mean 'loyalty.points'?" in errors
    assert f"{endpoints}:7:10: error: 'url' must be an http:// or https:// URL" in errors
    assert f"{endpoints}:8:13: error: 'method' must be one of GET, POST, PUT, PATCH, DELETE" in errors
    assert any(line.startswith(f"{plugin}:4:1: error: cannot load action 'loyalty.broken'") for line in errors)
    assert "endpoints: 2 error(s), 0 warning(s)" in out.out
    assert "plug-ins: 3 error(s), 0 warning(s)" in out.out


def test_endpoints_are_checked_against_flows_actions_and_the_environment(plugin: Path, tmp_path: Path) -> None:
    """An undeclared endpoint is an error, a secret's missing variable a warning, a mapped action must exist."""
    (tmp_path / "flows").mkdir()
    (tmp_path / "flows" / "main.yaml").write_text(FLOW.replace("http: shop_points", "http: shop_pints"))
    (tmp_path / "endpoints.yaml").write_text(
        ENDPOINTS.replace("  shop_bad:\n    url: ftp://shop.example/\n    method: FETCH\n", "")
    )
    checked = check_content(tmp_path / "flows", ROOT / "templates", environ={})
    shown = {
        what: [f"{p.line}:{p.column}: {p.severity}: {p.message}" for p in found] for what, found in checked.sections
    }
    assert "11:23: error: unknown endpoint 'shop_pints'; did you mean 'shop_points'?" in shown["flows"]
    assert shown["endpoints"] == [
        "4:11: warning: environment variable SHOP_POINTS_TOKEN is not set: calls to 'shop_points' will fail",
        f"7:3: error: unknown action 'orders.nowhere'; actions: {', '.join(sorted(checked.plugins.actions))}",
    ]
