"""Flow files: the reader builds the model with positions, reports each broken file exactly, and the schema agrees."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator

from bot.engine.flow import Act, Ask, Branch, Call, Choose, End, Goto, Handoff, Media, Say, Text, Validator, Verify
from bot.engine.flow_file import FlowLoader, LocatedFlow, flow_files, load_flows, read_flow
from bot.yaml_file import Position

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "flows"
BROKEN = Path(__file__).resolve().parents[1] / "flows_broken" / "reading"
CHECKED = Path(__file__).resolve().parents[1] / "flows_broken" / "checking"
SCHEMA = json.loads((SHIPPED / "flow.schema.json").read_text(encoding="utf-8"))
KINDS = "say, ask, choose, request_location, link, form, act, http, branch, goto, call, handoff, verify, end"
VALIDATORS = (
    "text, time, datetime, phone, email, number, date, image, document, location, {pattern: REGEX}, "
    "{number: {min: N, max: N}}, "
    "{date: {min_days: N, max_days: N}}, {choice: [A, B]}, {custom: NAME}"
)
ASK_KEYS = "id, ask, slot, validate, reprompt, max_attempts, on_exhausted, timeout, on_timeout, commands, next"
IDENTIFIER_RULE = "must be lowercase letters, digits and underscores, not starting with a digit"

BROKEN_CASES = {
    "bad_yaml.yaml": ["6:5: error: YAML: expected ',' or '}', but got '{'"],
    "unknown_key.yaml": [
        "3:1: error: unknown key 'descripton'; did you mean 'description'? "
        "allowed keys: flow, description, intent, start, idle_timeout, steps",
        f"9:5: error: unknown key 'retries' in an ask step; allowed keys: {ASK_KEYS}",
    ],
    "no_kind.yaml": [
        f"5:9: error: step 'greet' needs one of: {KINDS}",
        "7:5: error: step 2 has no 'id'",
    ],
    "two_kinds.yaml": [f"7:5: error: step 'greet' has both 'say' and 'ask'; a step is exactly one of: {KINDS}"],
    "bad_duration.yaml": [
        "4:15: error: duration '10x': use 30s, 10m, 2h or 1d",
        "9:14: error: duration '30': use 30s, 10m, 2h or 1d",
    ],
    "duplicate_step.yaml": ["8:9: error: duplicate step id 'greet'; the first is on line 5"],
    "wrong_name.yaml": ["2:7: error: flow 'orders' does not match the file name 'wrong_name'"],
    "bad_validator.yaml": [
        f"8:15: error: validator 'numbr' is not one of: {VALIDATORS}",
        "13:25: error: pattern '([0-9]': missing ), unterminated subpattern at position 0",
        "19:24: error: min_days 30 is more than max_days 7",
    ],
    "bad_options.yaml": [
        "9:9: error: option 2 has no 'title'",
        "10:14: error: duplicate option id 'status'; the first is option 1",
    ],
    "wrong_types.yaml": [
        "8:19: error: 'max_attempts' must be a whole number, 1 or more",
        "9:15: error: 'commands' must be true or false",
        "10:11: error: 'next' must be a step id",
        "12:10: error: 'end' must be a text, texts by language {en: TEXT, pt_BR: TEXT} "
        "or {template: NAME, values: {NAME: TEXT}}",
    ],
    "bad_text.yaml": [
        "8:7: error: unknown key 'value' in a template text; did you mean 'values'? allowed keys: template, values",
        "10:9: error: a choose step needs 'options' or 'options_from'",
    ],
    "missing_keys.yaml": [
        "2:1: error: missing required key 'start'",
        "4:9: error: an ask step needs 'slot'",
    ],
    "bad_branch.yaml": [
        "7:9: error: case 1 has no 'goto'",
        "8:9: error: case 2 has no 'goto'",
        "8:26: error: unknown key 'then' in a branch case; allowed keys: if, goto",
        "10:5: error: unknown key 'next' in a branch step; allowed keys: id, branch, otherwise",
    ],
    "bad_languages.yaml": [
        "8:7: error: 'english' is not a language code such as en, es or pt_BR",
        "13:14: error: the pt_BR text of 'end' must be a non-empty text",
    ],
    "bad_ids.yaml": [
        f"5:9: error: step id 'Ask Name' {IDENTIFIER_RULE}",
        "7:11: error: slot name 'contact' is reserved",
        "11:5: error: duplicate key 'end'",
    ],
}
# What JSON Schema cannot say: names unique across list items, and the file's own name.
SCHEMA_MISSES = {"bad_yaml.yaml", "duplicate_step.yaml", "wrong_name.yaml"}


def _messages(root: Path) -> list[str]:
    _, problems = load_flows(root)
    return [f"{p.path.relative_to(root)}:{p.line}:{p.column}: {p.severity}: {p.message}" for p in problems]


def _load(path: Path) -> Any:
    return yaml.load(path.read_text(encoding="utf-8"), Loader=FlowLoader)


def _schema_errors(document: Any) -> list[str]:
    return [error.message for error in Draft202012Validator(SCHEMA).iter_errors(document)]


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(text, encoding="utf-8")
    return path


# --- broken files -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("relative", "expected"), BROKEN_CASES.items())
def test_broken_flow_is_reported_at_its_position(relative: str, expected: list[str]) -> None:
    """Each broken file yields exactly the expected ``path:line:col: severity: message`` lines, in line order."""
    found = [m for m in _messages(BROKEN) if m.startswith(f"{relative}:")]
    assert found == [f"{relative}:{message}" for message in expected]


def test_every_broken_file_is_in_the_table() -> None:
    """No broken example goes unasserted."""
    assert {p.name for p in flow_files(BROKEN)} == set(BROKEN_CASES)


def test_no_broken_file_becomes_a_flow() -> None:
    """A file with any error gives no flow, so nothing half-read ever runs."""
    flows, problems = load_flows(BROKEN)
    assert flows == {}
    assert {p.path.name for p in problems} == set(BROKEN_CASES)


def test_problem_prints_like_a_compiler() -> None:
    """`str(problem)` is ``path:line:col: severity: message`` so editors can jump to it."""
    _, problems = read_flow(BROKEN / "wrong_name.yaml")
    assert [str(p) for p in problems] == [
        f"{BROKEN}/wrong_name.yaml:2:7: error: flow 'orders' does not match the file name 'wrong_name'"
    ]


# --- the model built --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def orders() -> LocatedFlow:
    flow, problems = read_flow(CHECKED / "orders.yaml")
    assert problems == []
    assert isinstance(flow, LocatedFlow)
    return flow


def test_sound_flow_reads_into_the_model(orders: LocatedFlow) -> None:
    """Every kind of step becomes its frozen dataclass, in file order, with the flow's own fields."""
    assert (orders.name, orders.start, orders.description) == (
        "orders",
        "greet",
        "Order status by number or from the recent orders",
    )
    assert orders.path == str(CHECKED / "orders.yaml")
    assert orders.idle_timeout == timedelta(minutes=30)
    kinds = [type(step) for step in orders.steps.values()]
    assert kinds == [Say, Verify, Act, Choose, Ask, Act, Branch, Say, Goto, Say, Choose, Choose, Call, Handoff, End]
    assert list(orders.steps)[:3] == ["greet", "verify", "recent"]


def test_version_is_a_short_hash_of_the_bytes(orders: LocatedFlow) -> None:
    """The version is the first 12 hex digits of the file's SHA-256, so any edit changes it."""
    assert orders.version == hashlib.sha256((CHECKED / "orders.yaml").read_bytes()).hexdigest()[:12]


def test_texts_are_inline_or_templates(orders: LocatedFlow) -> None:
    """A string is inline Jinja; a mapping is a template with its values as Jinja."""
    assert orders.steps["greet"] == Say(id="greet", text=Text(inline="Hi {{ contact.name }}!"), next="verify")
    status = orders.steps["status"]
    assert isinstance(status, Say)
    assert status.text.template == "order_status"
    assert dict(status.text.values) == {
        "order_number": "{{ order.number }}",
        "status": "{{ order.status }}",
        "delivery_date": "{{ order.delivery_date }}",
    }
    assert orders.steps["to_agent"] == Handoff(
        id="to_agent", text=Text("A person from our team will reply here shortly.")
    )


def test_waiting_steps_keep_their_exits(orders: LocatedFlow) -> None:
    """Ask and verify keep their validator, attempts, durations and exits."""
    ask = orders.steps["ask_number"]
    assert ask == Ask(
        id="ask_number",
        next="lookup",
        reprompt=Text("Order numbers have 4 to 8 digits, like 10482."),
        max_attempts=3,
        on_exhausted="to_agent",
        timeout=timedelta(minutes=10),
        on_timeout="bye",
        prompt=Text("What is your order number?"),
        slot="order_number",
        validator=Validator(kind="custom", name="order_number"),
    )
    verify = orders.steps["verify"]
    assert isinstance(verify, Verify)
    assert (verify.purpose, verify.on_failure, verify.max_attempts) == ("login", "to_agent", 3)
    assert verify.valid_for == timedelta(minutes=15)


def test_yes_and_no_stay_text(orders: LocatedFlow) -> None:
    """`yes` and `no` are option ids and titles, not booleans (YAML 1.2, as editors read it)."""
    more = orders.steps["more"]
    assert isinstance(more, Choose)
    assert [(o.id, o.title, o.next) for o in more.options] == [("yes", "Yes", "menu"), ("no", "No", "bye")]
    assert more.commands is False


def test_positions_point_at_values(orders: LocatedFlow) -> None:
    """Steps sit at their `id:` value, cases at their list item, and every value is found by path and step id."""
    assert orders.steps["greet"].position == Position(7, 9)
    route = orders.steps["route"]
    assert isinstance(route, Branch)
    assert [case.position for case in route.cases] == [Position(58, 9), Position(60, 9)]
    assert orders.positions[("start",)] == Position(4, 8)
    assert orders.positions[("steps", "pick", "options", 0, "title")] == Position(30, 28)
    assert orders.positions[("steps", "retry", "goto")] == Position(68, 23)


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("30s", timedelta(seconds=30)),
        ("10m", timedelta(minutes=10)),
        ("2h", timedelta(hours=2)),
        ("1d", timedelta(days=1)),
    ],
)
def test_durations(tmp_path: Path, written: str, expected: timedelta) -> None:
    """Durations are a whole number and one of s, m, h, d."""
    flow, problems = read_flow(
        _write(tmp_path, "d", f"flow: d\nstart: a\nidle_timeout: {written}\nsteps: [{{id: a, end: Bye}}]\n")
    )
    assert problems == []
    assert flow is not None
    assert flow.idle_timeout == expected


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("email", Validator(kind="email")),
        ("number", Validator(kind="number")),
        ("{number: {min: 1, max: 10}}", Validator(kind="number", minimum=1, maximum=10)),
        ("{number: {min: 0.5}}", Validator(kind="number", minimum=0.5)),
        ("{date: {min_days: 0, max_days: 60}}", Validator(kind="date", min_days=0, max_days=60)),
        ('{pattern: "^[0-9]{4,8}$"}', Validator(kind="pattern", pattern="^[0-9]{4,8}$")),
        ("{choice: [small, large]}", Validator(kind="choice", choices=("small", "large"))),
        ("{custom: shop.postcode}", Validator(kind="custom", name="shop.postcode")),
    ],
)
def test_validator_forms(tmp_path: Path, written: str, expected: Validator) -> None:
    """Each documented validator form becomes its `Validator`."""
    text = f"flow: v\nstart: a\nsteps:\n  - id: a\n    ask: Which?\n    slot: answer\n    validate: {written}\n"
    flow, problems = read_flow(_write(tmp_path, "v", text))
    assert problems == []
    assert flow is not None
    step = flow.steps["a"]
    assert isinstance(step, Ask)
    assert step.validator == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "1:1: error: a flow file is a mapping with 'flow', 'start' and 'steps'"),
        ("- a\n- b\n", "2:1: error: a flow file is a mapping with 'flow', 'start' and 'steps'"),
        ("flow: x\nstart: a\nsteps: []\n", "4:8: error: 'steps' must be a list of one or more steps"),
        ("flow: x\nstart: a\nsteps: [say]\n", f"4:9: error: step 1 must be a mapping with an 'id' and one of: {KINDS}"),
        (
            "flow: x\nstart: a\nsteps: [{id: a, act: Orders Lookup}]\n",
            "4:22: error: action name 'Orders Lookup' must be lowercase names joined by dots, like orders.lookup",
        ),
        ("flow: x\nstart: a\nsteps: [{id: a, say: '  '}]\n", "4:22: error: 'say' is empty"),
        (
            "flow: x\nstart: a\nsteps: [{id: a, branch: [{if: 3, goto: a}]}]\n",
            "4:31: error: case 1 'if' must be an expression; quote it",
        ),
        (
            "flow: x\nstart: a\nsteps: [{id: a, choose: Hi, options: [{id: 1, title: One}]}]\n",
            "4:44: error: option 1 'id' must be a text; quote it",
        ),
        (
            "flow: x\nstart: a\nsteps: [{id: a, act: x.y, args: {n: [1]}}]\n",
            "4:37: error: 'args' value for 'n' must be a text",
        ),
        (
            "flow: x\nstart: a\nsteps: [{id: a, say: {audio: a.mp3, caption: Hi}}]\n",
            "4:37: error: unknown key 'caption' in an audio to send; allowed keys: audio",
        ),
        (
            "flow: x\nstart: a\nsteps: [{id: a, say: {image: a.jpg, video: b.mp4}}]\n",
            "4:37: error: a say sends one file, not both 'image' and 'video'",
        ),
        (
            "flow: x\nstart: a\nsteps: [{id: a, say: {document: a.pdf, filename: x/a.pdf}}]\n",
            "4:50: error: 'filename' must be a file name, without folders",
        ),
        (
            f"flow: x\nstart: a\nsteps: [{{id: a, say: {{document: a.pdf, filename: {'n' * 241}}}}}]\n",
            "4:50: error: 'filename' is 241 characters; at most 240",
        ),
        (
            "flow: x\nstart: a\nsteps: [{id: a, say: {image: a.jpg, caption: {template: t}}}]\n",
            "4:46: error: a caption is a text or texts by language, not a template",
        ),
        (
            "flow: x\nstart: a\nsteps: [{id: a, link: Hi, url: 'https://x.example.com'}]\n",
            "4:14: error: a link step needs 'button'",
        ),
        (
            "flow: x\nstart: a\nsteps: [{id: a, request_location: Where}]\n",
            "4:14: error: a request_location step needs 'slot'",
        ),
        (
            "flow: x\nstart: a\n"
            "steps: [{id: a, link: Hi, button: Go, url: 'https://x.example.com', header: {audio: a}}]\n",
            "4:77: error: 'header' must be a text, {image: URL}, {video: URL} or {document: URL, filename: NAME} "
            "(a URL or a media id)",
        ),
        (
            "flow: x\nstart: a\n"
            "steps: [{id: a, choose: Hi, options: [{id: b, title: B}], header: {image: a, filename: b}}]\n",
            "4:78: error: unknown key 'filename' in a header; allowed keys: image",
        ),
    ],
)
def test_structure_errors(tmp_path: Path, text: str, expected: str) -> None:
    """Files that are not flows are reported where the trouble is (line 1 is the comment the test adds)."""
    _, problems = read_flow(_write(tmp_path, "x", "# a test file\n" + text))
    assert [f"{p.line}:{p.column}: {p.severity}: {p.message}" for p in problems] == [expected]


def test_missing_folder_is_a_warning(tmp_path: Path) -> None:
    """A folder that is not there is named, without failing a check of the settings and templates alone."""
    flows, problems = load_flows(tmp_path / "nowhere")
    assert flows == {}
    assert [(p.severity, p.message) for p in problems] == [("warning", "the flows folder does not exist")]


def test_yml_files_are_warned_about(tmp_path: Path) -> None:
    """A `.yml` file would be silently ignored, so it is named."""
    (tmp_path / "main.yml").write_text("flow: main\n", encoding="utf-8")
    flows, problems = load_flows(tmp_path)
    assert flows == {}
    assert [str(p) for p in problems] == [
        f"{tmp_path}/main.yml:1:1: warning: flow files end in .yaml; this file is not read"
    ]


def test_readme_example_reads_and_matches_the_schema(tmp_path: Path) -> None:
    """The example in flows/README.md, the format's contract, reads without a problem and passes the schema."""
    readme = (SHIPPED / "README.md").read_text(encoding="utf-8")
    example = readme.split("```yaml\n", 1)[1].split("```", 1)[0]
    path = _write(tmp_path, "orders", example)
    flow, problems = read_flow(path)
    assert [str(p) for p in problems] == []
    assert flow is not None
    assert {type(step).__name__.lower() for step in flow.steps.values()} >= {"ask", "act", "branch", "choose", "goto"}
    assert _schema_errors(_load(path)) == []


def test_shipped_flows_read_without_problems() -> None:
    """Every shipped flow file reads into a flow named after its file."""
    flows, problems = load_flows(SHIPPED)
    assert [str(p) for p in problems] == []
    assert sorted(flows) == sorted(p.stem for p in flow_files(SHIPPED))


# --- the JSON Schema --------------------------------------------------------------------------------


def test_schema_is_valid_draft_2020_12() -> None:
    """`flows/flow.schema.json` is itself a valid JSON Schema (draft 2020-12)."""
    assert SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(SCHEMA)


def test_schema_describes_every_property() -> None:
    """Every property has a description, which editors show on hover and completion."""
    missing: list[str] = []

    def visit(node: Any, where: str) -> None:
        if isinstance(node, dict):
            for name, child in node.get("properties", {}).items():
                if "description" not in child:
                    missing.append(f"{where}.{name}")
            for key, child in node.items():
                visit(child, f"{where}.{key}")
        elif isinstance(node, list):
            for index, child in enumerate(node):
                visit(child, f"{where}[{index}]")

    visit(SCHEMA, "$")
    assert missing == []


def test_shipped_flows_match_the_schema() -> None:
    """Whatever flows ship (none is fine) validate against the schema."""
    assert {p.name: _schema_errors(_load(p)) for p in flow_files(SHIPPED)} == {p.name: [] for p in flow_files(SHIPPED)}


def test_checked_examples_match_the_schema() -> None:
    """The checker's examples are well formed; only the limits and files examples break the schema's length limits."""
    failing = {p.name for p in flow_files(CHECKED) if _schema_errors(_load(p))}
    assert failing == {"limits.yaml", "files_to_send.yaml"}


@pytest.mark.parametrize("name", sorted(set(BROKEN_CASES) - SCHEMA_MISSES))
def test_schema_rejects_broken_files(name: str) -> None:
    """Every mistake the schema can express is caught in the editor too."""
    assert _schema_errors(_load(BROKEN / name))


@pytest.mark.parametrize(
    "document",
    [
        {"flow": "x", "start": "a", "steps": [{"id": "a", "say": "Hi", "ask": "Name?", "slot": "name"}]},
        {"flow": "x", "start": "a", "steps": [{"id": "a", "next": "b"}]},
        {"flow": "x", "start": "a", "steps": [{"say": "Hi"}]},
        {"flow": "x", "start": "a", "idle_timeout": "10x", "steps": [{"id": "a", "end": "Bye"}]},
        {"flow": "x", "start": "a", "steps": [{"id": "a", "goto": "b", "next": "c"}]},
        {"flow": "x", "start": "a", "steps": [{"id": "a", "choose": "Pick", "options": [{"id": "o"}]}]},
        {"flow": "x", "start": "a", "steps": [{"id": "a", "choose": "Pick"}]},
        {"flow": "x", "start": "a", "steps": [{"id": "a", "ask": "N?", "slot": "n", "validate": "numbr"}]},
        {"flow": "x", "start": "a", "steps": [{"id": "Not An Id", "end": None}]},
        {"flow": "x", "steps": [{"id": "a", "end": None}]},
    ],
    ids=[
        "two-kinds",
        "no-kind",
        "no-id",
        "duration",
        "next-on-goto",
        "option-title",
        "no-options",
        "validator",
        "id",
        "no-start",
    ],
)
def test_schema_rejects_wrong_documents(document: dict[str, Any]) -> None:
    """Deliberately wrong documents fail the schema."""
    assert _schema_errors(document)


def test_say_reads_a_file_to_send_from_the_folder_or_a_link(tmp_path: Path) -> None:
    """`say: {document: …}` names a file of the flows folder, an http(s) value a link; a caption may be per language."""
    text = (
        "flow: f\nstart: a\nsteps:\n"
        "  - {id: a, next: b, say: {document: media/terms.pdf, filename: terms.pdf,\n"
        "                          caption: {en: Terms, es: Condiciones}}}\n"
        "  - {id: b, say: {image: 'https://cdn.example/{{ contact.wa_id }}.jpg'}}\n"
    )
    flow, problems = read_flow(_write(tmp_path, "f", text))
    assert problems == []
    assert flow is not None
    caption = Text(languages={"en": "Terms", "es": "Condiciones"})
    media = Media("document", file="media/terms.pdf", filename="terms.pdf", caption=caption)
    assert flow.steps["a"] == Say("a", next="b", media=media)
    assert flow.steps["b"] == Say("b", media=Media("image", link="https://cdn.example/{{ contact.wa_id }}.jpg"))
