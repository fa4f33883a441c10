"""Conversation transcripts: each `tests/transcripts/*.yaml` played against the real app, and the runner's reports."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.__main__ import main
from bot.devtools.transcript import Workshop, load_transcript, run_transcript, transcript_files

TRANSCRIPTS = Path(__file__).parents[1] / "transcripts"


def _case(path: Path) -> Any:
    """One transcript as a test; one written down as showing a known bug is expected to fail (strictly)."""
    xfail = load_transcript(path).xfail
    marks = [pytest.mark.xfail(reason=xfail, strict=True)] if xfail else []
    return pytest.param(path, id=path.stem, marks=marks)


@pytest.fixture(scope="module")
def workshop() -> Iterator[Workshop]:
    shared = Workshop()
    yield shared
    shared.close()


@pytest.mark.parametrize("path", [_case(p) for p in transcript_files([TRANSCRIPTS])])
async def test_transcript(path: Path, workshop: Workshop) -> None:
    """The chat goes as written: every bot message in order, and the slots, session and records asserted."""
    result = await run_transcript(path, workshop)
    if not result.ok:
        pytest.fail(f"{result.title}\n{result.report}", pytrace=False)


def test_every_shipped_flow_has_transcripts() -> None:
    """Each flow file has transcripts named after it (`<flow>_<case>.yaml`), so no flow goes untested."""
    flows = {p.stem for p in Path("flows").glob("*.yaml")}
    tested = {p.name.split("_")[0] for p in transcript_files([TRANSCRIPTS])}
    assert flows <= tested


GREETING = """\
transcript: greeting
contact: {name: Ana}
steps:
  - customer: hello
  - bot: Hi Ana! I'm the assistant of Example Store.
"""


def _write(tmp_path: Path, text: str, name: str = "chat.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


async def test_a_mismatch_reports_every_line_up_to_it_as_a_diff(tmp_path: Path) -> None:
    """A wrong expectation fails with a unified diff: the lines that went as written, then expected and got."""
    path = _write(
        tmp_path,
        GREETING + '  - bot: {list: "What can I help you with?", options: [orders, balance]}\n  - customer: "1"\n',
    )
    result = await run_transcript(path)
    assert not result.ok
    at = f"{path}:"
    assert result.report.splitlines() == [
        "--- expected",
        "+++ got",
        "@@ -1,3 +1,3 @@",
        f" {at}4: customer: hello",
        f" {at}5: bot: Hi Ana! I'm the assistant of Example Store.",
        f"-{at}6: bot: {{list: 'What can I help you with?', options: [orders, balance]}}",
        f"+{at}6: bot: {{list: 'What can I help you with?', options: [orders, appointments, balance, agent, stores]}}",
    ]


async def test_a_message_no_line_expects_fails_the_transcript(tmp_path: Path) -> None:
    """Every message the bot sends must be matched before the customer speaks again (or skipped with `bot: ...`)."""
    path = _write(tmp_path, GREETING + "  - customer: help\n")
    result = await run_transcript(path)
    assert not result.ok
    assert result.report.splitlines()[-1] == (
        f"+{path}:6: bot: {{list: 'What can I help you with?', "
        "options: [orders, appointments, balance, agent, stores]}"
        "  # unexpected"
    )
    skipped = _write(tmp_path, GREETING + "  - bot: ...\n  - customer: help\n  - bot: ...\n", "skipped.yaml")
    assert (await run_transcript(skipped)).ok


async def test_slots_are_shown_as_they_are_when_they_differ(tmp_path: Path) -> None:
    """A failed `expect slots` shows the slots asked about as stored, `<unset>` for one that is not."""
    path = _write(tmp_path, GREETING + "  - bot: ...\n  - expect slots: {order_number: '10482'}\n")
    result = await run_transcript(path)
    assert result.report.splitlines()[-2:] == [
        f"-{path}:7: expect slots: {{order_number: '10482'}}",
        f"+{path}:7: expect slots: {{order_number: <unset>}}",
    ]


async def test_a_tap_on_an_option_never_offered_is_a_mismatch(tmp_path: Path) -> None:
    """Tapping needs a button or row the bot sent; the report lists what the last menu had."""
    path = _write(tmp_path, GREETING + "  - bot: ...\n  - customer taps: refunds\n")
    result = await run_transcript(path)
    assert result.report.splitlines()[-1] == (
        f"+{path}:7: customer taps: refunds  # not offered; "
        "the last menu had: orders, appointments, balance, agent, stores"
    )


async def test_a_mistake_in_the_file_is_reported_at_its_line(tmp_path: Path) -> None:
    """An unknown step is a problem of the file, reported as path:line:col before anything runs."""
    path = _write(tmp_path, GREETING + "  - customer says: hi\n")
    result = await run_transcript(path)
    assert not result.ok
    assert result.report.startswith(f"{path}:6:5: unknown step 'customer says'; steps: customer, customer taps")


async def test_a_stubbed_action_answers_instead_of_the_real_one(tmp_path: Path) -> None:
    """`stub:` replaces an action by its canned result, here an order that is in no database."""
    text = """\
transcript: stubbed
stub:
  orders.recent: {returns: []}
  orders.lookup: {returns: {number: "4242", status: placed}}
steps:
  - customer: hi
  - bot: ...
  - customer taps: orders
  - bot: ...
  - customer: "4242"
  - bot: Order 4242 is placed. We message you when it ships.
  - bot: ...
"""
    assert (await run_transcript(_write(tmp_path, text))).ok


def test_bot_test_prints_a_line_per_transcript_and_exits_1_on_a_failure(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`bot test` reports ok or FAILED (with the diff) per transcript and a summary; any failure exits 1."""
    good = _write(tmp_path, GREETING + "  - bot: ...\n", "good.yaml")
    bad = _write(tmp_path, GREETING + "  - bot: nothing\n", "bad.yaml")
    assert main(["test", str(good)]) == 0
    assert capsys.readouterr().out.splitlines() == [f"ok     {good}  greeting", "1 transcripts: 1 ok"]
    assert main(["test", str(tmp_path)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"FAILED {bad}  greeting"
    assert f"    -{bad}:6: bot: nothing" in out
    assert out[-2:] == [f"ok     {good}  greeting", "2 transcripts: 1 FAILED, 1 ok"]
    (tmp_path / "old").mkdir()  # `timezone:`, the old name of `time_zone:`, still runs, with a warning
    old = _write(tmp_path / "old", "timezone: Europe/Lisbon\n" + GREETING + "  - bot: ...\n")
    assert main(["test", str(old)]) == 0
    assert capsys.readouterr().err == f"{old}:1:1: warning: 'timezone' is now 'time_zone'\n"


def test_a_known_bug_that_no_longer_fails_is_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A transcript marked `xfail:` that passes is an XPASS and fails the run, so the mark gets removed."""
    path = _write(tmp_path, GREETING.replace("steps:", "xfail: fixed already\nsteps:") + "  - bot: ...\n")
    assert main(["test", str(path)]) == 1
    assert capsys.readouterr().out.splitlines()[0] == f"XPASS  {path}  greeting"


HTTP_FLOW = """\
flow: main
start: number
steps:
  - {id: number, ask: "Which order?", slot: number, next: fetch}
  - id: fetch
    http: order_status
    query: {number: "{{ number }}"}
    result: order
    timeout: 2s
    on_error: failed
    next: show
  - {id: show, end: "Order {{ order.number }} is {{ order.status }}."}
  - {id: failed, end: "Sorry, that did not work ({{ error }})."}
"""
HTTP_ENDPOINTS = """\
endpoints:
  order_status:
    url: https://shop.example/orders
    auth: {bearer: SHOP_TOKEN}
    returns: {number: string, status: string}
"""


@pytest.mark.parametrize(
    ("canned", "reply"),
    [
        ('{json: {number: "7", status: shipped}}', "Order 7 is shipped."),
        ("{status: 500, json: {error: down}}", "Sorry, that did not work (status 500)."),
        (
            "{json: {number: 7, status: shipped}}",
            "Sorry, that did not work (wrong answer: answer.number is an integer, not a string).",
        ),
    ],
)
async def test_endpoints_give_canned_answers_so_transcripts_run_offline(
    tmp_path: Path, canned: str, reply: str
) -> None:
    """`endpoints:` answers an `http` step's call offline; answers and failures go through the same checks."""
    (tmp_path / "flows").mkdir()
    (tmp_path / "flows" / "main.yaml").write_text(HTTP_FLOW)
    (tmp_path / "endpoints.yaml").write_text(HTTP_ENDPOINTS)
    text = f"""\
transcript: over http
flows: {tmp_path / "flows"}
endpoints:
  order_status: {canned}
steps:
  - customer: hi
  - bot: "Which order?"
  - customer: "7"
  - bot: {json.dumps(reply)}
"""
    result = await run_transcript(_write(tmp_path, text))
    assert result.ok, result.report
