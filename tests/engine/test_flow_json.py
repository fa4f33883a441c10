"""`bot check` on WhatsApp Flow JSON files and the `form` steps that send them, each finding at its line and column."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bot.__main__ import main
from bot.engine.flow_file import read_flow
from bot.engine.flow_json import check_forms, load_flow_jsons, read_flow_json

ROOT = Path(__file__).resolve().parents[2]

FORM_STEP = """\
flow: rate
start: form
steps:
  - id: form
    form: How did we do?
    flow_json: {name}
    cta: Rate us
    screen: {screen}
    fields:
      rating: {{type: choice, required: true}}
      {field}: text
    on_exhausted: thanks
    next: thanks
  - {{id: thanks, say: "Thanks, {{{{ rating }}}}!"}}
"""
FLOW_JSON = """\
{
  "version": "7.0",
  "screens": [
    {
      "id": "RATE",
      "layout": {
        "type": "SingleColumnLayout",
        "children": [
          {"type": "RadioButtonsGroup", "name": "rating", "label": "Rating",
           "data-source": [{"id": "5", "title": "Five"}]},
          {"type": "TextArea", "name": "comment", "label": "Comment"},
          {"type": "Footer", "label": "Send",
           "on-click-action": {"name": "complete", "payload": {"rating": "${form.rating}", "note": "${form.comment}"}}}
        ]
      }
    }
  ]
}
"""


def _project(
    tmp_path: Path, *, name: str = "rate", screen: str = "RATE", field: str = "note", json_text: str = FLOW_JSON
) -> Path:
    """A project of the shipped flows and templates, plus a flow `rate` with a form step and its Flow JSON."""
    shutil.copytree(ROOT / "flows", tmp_path / "flows")
    shutil.copytree(ROOT / "templates", tmp_path / "templates")
    shutil.copytree(ROOT / "whatsapp_flows", tmp_path / "whatsapp_flows")
    (tmp_path / "flows" / "rate.yaml").write_text(FORM_STEP.format(name=name, screen=screen, field=field))
    (tmp_path / "whatsapp_flows" / "rate.json").write_text(json_text)
    return tmp_path


def _check(tmp_path: Path, capsys: pytest.CaptureFixture[str], **changes: str) -> tuple[int, list[str]]:
    project = _project(tmp_path, **changes)
    code = main(["check", "--project", str(project)])
    out = capsys.readouterr()
    lines = [line.removeprefix(str(project) + "/") for line in (out.out + out.err).splitlines() if ": " in line]
    return code, [line for line in lines if line.startswith(("flows/", "whatsapp_flows/"))]


def test_the_shipped_flow_json_and_a_sound_form_step_pass(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The shipped feedback Flow and a form step whose screen and fields its Flow JSON has: no finding at all."""
    assert _check(tmp_path, capsys) == (0, [])


@pytest.mark.parametrize(
    ("changes", "finding"),
    [
        (
            {"name": "rat"},
            "flows/rate.yaml:6:16: error: no Flow JSON {project}/whatsapp_flows/rat.json; did you mean 'rate'?",
        ),
        ({"screen": "START"}, "flows/rate.yaml:8:13: error: Flow JSON 'rate' has no screen 'START' (it has RATE)"),
        (
            {"field": "comment"},
            "flows/rate.yaml:11:16: error: Flow JSON 'rate' answers with no field 'comment' (it answers note, rating)",
        ),
    ],
)
def test_a_form_step_must_match_its_flow_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], changes: dict[str, str], finding: str
) -> None:
    """The Flow JSON must exist, have the step's first screen, and answer with each field the step keeps."""
    code, found = _check(tmp_path, capsys, **changes)
    assert code == 1
    assert found == [finding.format(project=tmp_path)]


@pytest.mark.parametrize(
    ("text", "findings"),
    [
        ('{"version": "7.0",\n  "screens": [}\n', ["2:15: error: not JSON: Expecting value"]),
        ("[1, 2]", ["1:1: error: a Flow JSON file is an object with 'version' and 'screens'"]),
        (
            '{"version": 7, "screens": []}',
            [
                "1:13: error: version 7 is not one Meta knows (2.1, 3.0, 3.1, 4.0, 5.0, 5.1, 6.0, 6.1, 6.2, 6.3, "
                "7.0, 7.1, 7.2); quote it",
                "1:27: error: 'screens' must be a list of one or more screens",
            ],
        ),
        (
            '{"version": "6.0",\n "screens": [\n  {"id": "A", "layout": {"children": []}},\n'
            '  {"id": "A", "layout": {"children": [{"type": "TextInput", "label": "x"}, {"type": "Dropdown",'
            ' "name": "d"}, {"type": "Carousel"}]}},\n  {"id": "B-1"}\n ],\n "extra": 1\n}\n',
            [
                "4:10: error: duplicate screen id 'A'",
                "4:39: error: a TextInput needs a 'name'",
                "4:76: error: a Dropdown needs a 'data-source': a list of {id, title}",
                "4:120: warning: component 'Carousel' is not shown by the sandbox",
                "5:10: error: screen 3 needs an 'id' of letters and underscores",
                "5:3: error: a screen's 'layout' is an object with a list of 'children'",
                "7:2: warning: key 'extra' is not in the subset checked here (Meta checks it)",
            ],
        ),
    ],
)
def test_flow_json_findings_are_at_their_line_and_column(tmp_path: Path, text: str, findings: list[str]) -> None:
    """Syntax errors where the decoder stopped; the subset's errors and warnings at the key or value at fault."""
    path = tmp_path / "broken.json"
    path.write_text(text)
    read, problems = read_flow_json(path)
    assert read is None or all(p.severity == "warning" for p in problems)
    assert sorted(f"{p.line}:{p.column}: {p.severity}: {p.message}" for p in problems) == sorted(findings)


def test_answers_are_the_complete_payload_else_the_inputs(tmp_path: Path) -> None:
    """A Flow with a `complete` payload answers with its keys; without one, with its inputs' names."""
    folder = tmp_path / "whatsapp_flows"
    folder.mkdir()
    (folder / "with_payload.json").write_text(FLOW_JSON)
    (folder / "without.json").write_text(
        FLOW_JSON.replace(', "payload": {"rating": "${form.rating}", "note": "${form.comment}"}', "")
    )
    found, problems = load_flow_jsons(folder)
    assert problems == []
    assert found["with_payload"].answers == {"rating", "note"}
    assert found["without"].answers == {"rating", "comment"}
    assert found["with_payload"].screens == ("RATE",)


def test_no_folder_is_no_flow_json_and_no_problem(tmp_path: Path) -> None:
    """A project without whatsapp_flows/ has nothing to check there; its form steps are what report."""
    assert load_flow_jsons(tmp_path / "whatsapp_flows") == ({}, [])
    (tmp_path / "rate.yaml").write_text(FORM_STEP.format(name="rate", screen="RATE", field="note"))
    flow, problems = read_flow(tmp_path / "rate.yaml")
    assert flow is not None
    assert problems == []
    [problem] = check_forms({"rate": flow}, {}, tmp_path / "whatsapp_flows")
    assert (problem.line, problem.column, problem.message) == (
        6,
        16,
        f"no Flow JSON {tmp_path}/whatsapp_flows/rate.json",
    )


@pytest.mark.parametrize(
    ("lines", "finding"),
    [
        ("    cta: Tap here to rate our shop in a short form\n", "7:10: error: 'cta' is 41 characters; at most 30"),
        (
            "    fields: {rating: stars}\n",
            "9:22: error: field kind 'stars' is not one of: text, number, date, choice, list, boolean",
        ),
        (
            "    fields: {Rating: text}\n",
            "9:14: error: field name 'Rating' is a slot's name: must be lowercase letters, digits and underscores, "
            "not starting with a digit, not reserved",
        ),
        ("    fields: {rating: {type: text, required: maybe}}\n", "9:45: error: 'required' must be true or false"),
        ("    flow_id: 1234\n", "9:14: error: flow_id 1234 must be Meta's numeric Flow id; quote it"),
        ("    action: open\n", "9:13: error: 'action' must be one of: navigate, data_exchange"),
        (
            "    screen: first-one\n",
            "9:13: error: screen id 'first-one' must be letters and underscores, as Meta's screen ids",
        ),
    ],
)
def test_form_step_keys_are_read_with_their_positions(tmp_path: Path, lines: str, finding: str) -> None:
    """Each form key's mistake is reported where it was written."""
    text = "flow: rate\nstart: form\nsteps:\n  - id: form\n    form: How did we do?\n    flow_json: rate\n"
    text += lines if lines.startswith("    cta") else "    cta: Rate us\n    next: form\n" + lines
    (tmp_path / "rate.yaml").write_text(text)
    flow, problems = read_flow(tmp_path / "rate.yaml")
    assert flow is None
    assert [f"{p.line}:{p.column}: {p.severity}: {p.message}" for p in problems] == [finding]


def test_a_form_step_needs_its_flow_json_and_cta(tmp_path: Path) -> None:
    """Without `flow_json` and `cta` there is nothing to send."""
    (tmp_path / "rate.yaml").write_text("flow: rate\nstart: form\nsteps:\n  - id: form\n    form: How did we do?\n")
    flow, problems = read_flow(tmp_path / "rate.yaml")
    assert flow is None
    assert [p.message for p in problems] == ["a form step needs 'flow_json'", "a form step needs 'cta'"]
