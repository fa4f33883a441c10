"""`bot check` on flows: references, exits, slots and WhatsApp's limits, each reported at the value at fault."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.__main__ import main
from bot.engine.answer import VALIDATORS
from bot.engine.flow import Ask, Branch, Case, Flow, Say, Text
from bot.engine.flow_check import check_flows, slots_set, templates_for_check
from bot.engine.flow_file import flow_files, load_flows
from bot.inbound.actions import ACTIONS, MAY_BE_EMPTY
from bot.message_templates.library import TemplateLibrary
from bot.yaml_file import Position

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "flows"
BROKEN = Path(__file__).resolve().parents[1] / "flows_broken" / "checking"
ACTION_NAMES = {"orders.lookup", "orders.recent"}
VALIDATOR_NAMES = {"order_number"}
NO_EXIT = "the flow ends after 3 failed tries"

BROKEN_CASES = {
    "orders.yaml": [],
    "feedback.yaml": [],
    "empty_field.yaml": [
        "14:10: warning: order.tracking_number may be empty (the action leaves it so) and would print nothing here; "
        "guard with {% if … %}…{% endif %} or add | default(…)",
    ],
    "unknown_step.yaml": [
        "3:8: error: unknown step 'welcome'",
        "7:11: error: unknown step 'ask_nmae'; did you mean 'ask_name'?",
        "16:35: error: unknown step 'lovelace'",
        "21:41: error: unknown step 'ask_nmae'; did you mean 'ask_name'?",
    ],
    "unknown_name.yaml": [
        "5:22: error: unknown flow 'feedbak'; did you mean 'feedback'?",
        "7:10: error: unknown action 'orders.lookpu'; did you mean 'orders.lookup'?",
        "13:24: error: unknown validator 'postcode'",
        "17:21: error: unknown template 'order_staus'; did you mean 'order_status'?",
    ],
    "template_values.yaml": [
        "7:17: error: template 'order_status' needs values for: delivery_date",
        "11:19: warning: template 'order_status' has no 'customer'",
    ],
    "unreachable.yaml": ["6:10: warning: step 'forgotten' is never reached from 'greet'"],
    "exits.yaml": [
        f"5:9: warning: ask has no 'on_exhausted'; {NO_EXIT}",
        "8:17: warning: 'on_timeout' without a 'timeout' never happens",
        f"10:9: warning: choose has no 'on_exhausted'; {NO_EXIT}",
        f"16:9: warning: verify has no 'on_failure'; {NO_EXIT}",
        "19:9: warning: act has no 'on_error'; a failure apologises and ends the flow",
        "23:9: error: branch has no 'otherwise' for when no case matches",
    ],
    "unset_slot.yaml": [
        "7:20: warning: slot 'number' is used but no step sets it",
        "13:14: warning: slot 'wanted' is used but no step sets it",
        "16:10: warning: slot 'nmae' is used but no step sets it",
        "21:60: warning: slot 'state' is used but no step sets it",
        "25:19: warning: slot 'choices' is used but no step sets it",
    ],
    "limits.yaml": [
        "9:28: error: option 'short' title is 21 characters; at most 20 on a reply button",
        "10:46: warning: option 'fine' description is not shown: 3 options or fewer are reply buttons",
        "15:24: error: option 'a' title is 25 characters; at most 24 in a list",
        "16:40: error: option 'b' description is 73 characters; at most 72",
        "17:14: error: option id is 201 characters; at most 200",
        "19:13: error: list button 'A list button too long' is 22 characters; at most 20",
        "23:10: error: text is 1025 characters; at most 1024",
    ],
    "files_to_send.yaml": [
        "7:21: error: no file 'files/nowhere.pdf' in the flows folder",
        "10:18: error: '../limits.yaml' is outside the flows folder; keep the files to send in it (e.g. media/)",
        "13:18: error: anim.gif: WhatsApp sends only .jpg, .png files as image",
        "16:57: error: caption is 1025 characters; at most 1024",
        "19:18: error: song.pdf: WhatsApp sends only .aac, .amr, .m4a, .mp3, .ogg files as audio",
    ],
    "synonyms.yaml": [
        "2:9: error: intent 'order' is already served by flow 'feedback'; one flow per intent",
        "11:19: error: option 'returns' and option 'orders' both answer to 'parcel'; keep it on one",
        "12:56: error: option 'agent' and option 'returns' both answer to 'returns'; keep it on one",
    ],
    "syntax.yaml": [
        """7:14: error: expression 'contact.name = "Ada"': column 14: use == to compare""",
        "10:10: error: Jinja syntax error: unexpected '}'",
        "15:14: error: Jinja syntax error: unexpected '}'",
    ],
}


@pytest.fixture(scope="module")
def templates() -> TemplateLibrary:
    return TemplateLibrary.load(ROOT / "templates")


def _check(root: Path, templates: TemplateLibrary) -> list[str]:
    flows, problems = load_flows(root)
    found = check_flows(
        flows,
        problems,
        templates=templates,
        actions=ACTION_NAMES,
        validators=VALIDATOR_NAMES,
        may_be_empty=MAY_BE_EMPTY,
    )
    return [f"{p.path.relative_to(root)}:{p.line}:{p.column}: {p.severity}: {p.message}" for p in found]


def _write(folder: Path, name: str, text: str) -> None:
    folder.mkdir(exist_ok=True)
    (folder / f"{name}.yaml").write_text(text, encoding="utf-8")


# --- the broken examples ----------------------------------------------------------------------------


@pytest.mark.parametrize(("relative", "expected"), BROKEN_CASES.items())
def test_flow_finding_is_reported_at_its_position(
    templates: TemplateLibrary, relative: str, expected: list[str]
) -> None:
    """Each example yields exactly the expected ``path:line:col: severity: message`` lines; sound ones none."""
    found = [m for m in _check(BROKEN, templates) if m.startswith(f"{relative}:")]
    assert found == [f"{relative}:{message}" for message in expected]


def test_every_example_is_in_the_table() -> None:
    """No example goes unasserted, and every one of them reads (the checker's findings are all that is wrong)."""
    flows, problems = load_flows(BROKEN)
    assert {p.name for p in flow_files(BROKEN)} == set(BROKEN_CASES)
    assert sorted(flows) == sorted(name.removesuffix(".yaml") for name in BROKEN_CASES)
    assert problems == []


def test_problems_come_in_file_and_line_order(templates: TemplateLibrary) -> None:
    """Reading and checking problems are merged in path, line and column order, as compilers print them."""
    flows, problems = load_flows(BROKEN)
    found = check_flows(
        flows,
        problems,
        templates=templates,
        actions=ACTION_NAMES,
        validators=VALIDATOR_NAMES,
        may_be_empty=MAY_BE_EMPTY,
    )
    assert found == sorted(found, key=lambda p: (str(p.path), p.line, p.column))


# --- shipped flows ----------------------------------------------------------------------------------


def test_shipped_flows_have_no_errors() -> None:
    """The shipped flows check without errors against the shipped templates and the registered names."""
    flows, problems = load_flows(SHIPPED)
    library = TemplateLibrary.load(ROOT / "templates")
    found = check_flows(flows, problems, templates=library, actions=ACTIONS.keys(), validators=VALIDATORS.keys())
    assert [str(p) for p in found if p.severity == "error"] == []


# --- across flows -----------------------------------------------------------------------------------


def test_call_to_a_broken_flow_is_not_reported_again(tmp_path: Path, templates: TemplateLibrary) -> None:
    """A call to a flow whose file has errors reports those errors only, not an unknown flow as well."""
    _write(tmp_path, "main", "flow: main\nstart: a\nsteps:\n  - {id: a, call: help}\n")
    _write(tmp_path, "help", "flow: help\nstart: a\nsteps:\n  - {id: a, sya: Hi}\n")
    assert _check(tmp_path, templates) == [
        "help.yaml:4:13: error: unknown key 'sya' in step 'a'; did you mean 'say'? "
        "a step is one of: say, ask, choose, request_location, link, form, act, http, branch, goto, call, "
        "handoff, verify, end"
    ]


def test_slots_flow_both_ways_through_call(tmp_path: Path, templates: TemplateLibrary) -> None:
    """A called flow reads its caller's slots, and the caller reads what the called flow set."""
    _write(
        tmp_path,
        "main",
        "flow: main\nstart: a\nsteps:\n  - {id: a, call: name, next: b}\n  - {id: b, say: 'Hi {{ name }}'}\n",
    )
    _write(
        tmp_path,
        "name",
        "flow: name\nstart: a\nsteps:\n  - {id: a, ask: Name, slot: name, on_exhausted: b}\n  - {id: b, end: Bye}\n",
    )
    _write(tmp_path, "alone", "flow: alone\nstart: a\nsteps:\n  - {id: a, say: 'Hi {{ nam }}'}\n")
    assert _check(tmp_path, templates) == ["alone.yaml:4:18: warning: slot 'nam' is used but no step sets it"]


def test_verify_sets_verified() -> None:
    """A verify step fills `verified` (and when), answers and results fill their slots."""
    flow, _ = load_flows(BROKEN)
    assert slots_set(flow["orders"]) == {"verified", "verified_at", "recent_orders", "picked", "order_number", "order"}


def test_flows_built_in_code_point_at_their_steps(templates: TemplateLibrary) -> None:
    """A flow built without file positions still gets findings at its steps' positions."""
    steps = {
        "a": Ask(id="a", position=Position(3, 9), prompt=Text("Name?"), slot="name", on_exhausted="b", next="c"),
        "b": Say(id="b", position=Position(5, 9), text=Text("{{ nmae }}")),
        "c": Branch(id="c", position=Position(7, 9), cases=(Case("name == 'x'", "b", Position(8, 9)),)),
    }
    flow = Flow(name="memory", start="a", steps=steps, version="0", path="flows/memory.yaml")
    found = check_flows({"memory": flow}, [], templates=templates, actions=(), validators=())
    assert [str(p) for p in found] == [
        "flows/memory.yaml:5:9: warning: slot 'nmae' is used but no step sets it; did you mean 'name'?",
        "flows/memory.yaml:7:9: error: branch has no 'otherwise' for when no case matches",
    ]


def test_templates_for_check_keeps_the_readable_ones() -> None:
    """Flows are checked against every template that reads, even beside broken ones, so errors do not cascade."""
    names = {t.name for t in templates_for_check(ROOT / "tests" / "templates_broken")}
    assert "promotional" in names
    assert "unknown_category" not in names


# --- the command ------------------------------------------------------------------------------------


def test_bot_check_reports_flow_problems(capsys: pytest.CaptureFixture[str]) -> None:
    """`bot check --flows` prints flow problems as path:line:col, counts them, and exits 1 on an error."""
    args = ["--env-file", "/nonexistent", "check", "--templates", str(ROOT / "templates"), "--flows", str(BROKEN)]
    assert main(args) == 1
    out, err = capsys.readouterr()
    assert f"{BROKEN}/unknown_step.yaml:3:8: error: unknown step 'welcome'" in err.splitlines()
    assert (
        f"{BROKEN}/unreachable.yaml:6:10: warning: step 'forgotten' is never reached from 'greet'" in out.splitlines()
    )
    assert "templates: 0 error(s), 0 warning(s)" in out
    assert any(line.startswith("flows: ") and line.endswith(" warning(s)") for line in out.splitlines())


def test_bot_check_passes_on_the_shipped_flows(capsys: pytest.CaptureFixture[str]) -> None:
    """`bot check` exits 0 on the shipped flows and templates and prints a flows summary line."""
    args = ["--env-file", "/nonexistent", "check", "--templates", str(ROOT / "templates"), "--flows", str(SHIPPED)]
    assert main(args) == 0
    assert "flows: 0 error(s)" in capsys.readouterr().out


def test_a_value_that_is_none_prints_nothing() -> None:
    """What `bot check` warns about cannot print the word None: the renderer shows a None value as nothing."""
    from bot.engine.render import render_text

    assert render_text("Tracking number: {{ order.tracking_number }}.", {"order": {"tracking_number": None}}) == (
        "Tracking number: ."
    )


def test_a_file_over_metas_size_limit_is_reported(tmp_path: Path, templates: TemplateLibrary) -> None:
    """A photo over 5 MB in the flows folder is refused by `bot check`, at the value naming it."""
    (tmp_path / "media").mkdir()
    with (tmp_path / "media" / "big.jpg").open("wb") as big:
        big.truncate(5 * 1024 * 1024 + 1)
    _write(tmp_path, "main", "flow: main\nstart: hi\nsteps:\n  - id: hi\n    say: {image: media/big.jpg}\n")
    assert _check(tmp_path, templates) == [
        "main.yaml:5:18: error: image of 5242881 bytes is over Meta's limit of 5242880 bytes"
    ]


# --- interactive steps --------------------------------------------------------------------------------

INTERACTIVE = """\
flow: rich
start: pick
steps:
  - id: pick
    choose: Which store?
    header: {image: "ftp://shop.example.com/s.jpg"}
    footer: A footer that is far too long for WhatsApp, which allows sixty characters
    options_from: stores
    on_exhausted: done
    next: where
  - id: where
    request_location: {template: order_status, values: {}}
    slot: place
    on_exhausted: done
    next: map
  - id: map
    link: The map of {{ place.name }}
    button: Open the map of our store
    url: http://maps.example.com/{{ place.latitude }}
    header: A header that is longer than the sixty characters WhatsApp shows
    next: done
  - {id: done, say: Bye}
"""


def test_interactive_steps_keep_metas_limits_at_their_lines(tmp_path: Path, templates: TemplateLibrary) -> None:
    """A link's title, URL and header, a footer, a file header's address and place, and inline texts only."""
    _write(tmp_path, "rich", INTERACTIVE)
    assert [line.removeprefix("rich.yaml:") for line in _check(tmp_path, templates)] == [
        "6:13: error: an image header needs reply buttons: 3 options or fewer, and no options_from",
        "6:21: error: the header's image must be an http(s) URL or a media id",
        "7:13: error: footer is 73 characters; at most 60",
        "8:19: warning: slot 'stores' is used but no step sets it",
        "12:23: error: a request_location step's text is written inline, not as a template",
        "12:34: error: template 'order_status' needs values for: delivery_date, order_number, status",
        "18:13: error: button 'Open the map of our store' is 25 characters; at most 20",
        "19:10: error: url 'http://maps.example.com/{{ place.latitude }}' must start with https://",
        "20:13: error: header is 64 characters; at most 60",
    ]  # `place` is read without a warning: the location request sets it
