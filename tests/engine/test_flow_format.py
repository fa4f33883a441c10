"""Specification of bot.engine.flow_format: the flow format declared once, and the schema file generated from it."""

from __future__ import annotations

import json
from pathlib import Path

from bot.__main__ import main
from bot.engine.flow_file import VALUE_READERS
from bot.engine.flow_format import KINDS, SCHEMA_FILE, VALUES, flow_schema, schema_text
from bot.engine.flow_shapes import SHAPES

ROOT = Path(__file__).resolve().parents[2]


def test_the_committed_schema_is_the_generated_one() -> None:
    """`flows/flow.schema.json` is exactly what the declarations give: nobody edits it by hand (run `bot schema`)."""
    assert (ROOT / SCHEMA_FILE).read_text(encoding="utf-8") == schema_text()


def test_every_kind_of_value_has_a_reader_and_a_schema() -> None:
    """Each key of each step kind takes a kind of value that the reader reads and the schema describes."""
    assert VALUE_READERS.keys() == VALUES.keys()
    assert {key.value for kind in KINDS for key in kind.keys.values()} <= VALUES.keys()
    refs = {v["$ref"].removeprefix("#/$defs/") for v in VALUES.values() if "$ref" in v}
    assert refs <= SHAPES.keys()


def test_every_step_kind_is_a_schema_step_with_its_keys() -> None:
    """The schema offers exactly the declared kinds, each with `id`, its own key first, and its other keys."""
    defs = flow_schema()["$defs"]
    assert [ref["$ref"] for ref in defs["step"]["oneOf"]] == [f"#/$defs/{kind.name}_step" for kind in KINDS]
    for kind in KINDS:
        assert list(defs[f"{kind.name}_step"]["properties"]) == list(kind.allowed)
        assert next(iter(kind.keys)) == kind.name


def test_bot_schema_writes_the_file_and_check_finds_a_stale_one(tmp_path: Path) -> None:
    """`bot schema --check` exits 1 on a stale file and writes nothing; `bot schema` writes the generated one."""
    target = tmp_path / "flow.schema.json"
    target.write_text("{}\n", encoding="utf-8")
    assert main(["--env-file", "/nonexistent", "schema", "--output", str(target), "--check"]) == 1
    assert target.read_text(encoding="utf-8") == "{}\n"
    assert main(["--env-file", "/nonexistent", "schema", "--output", str(target)]) == 0
    assert json.loads(target.read_text(encoding="utf-8")) == flow_schema()
    assert main(["--env-file", "/nonexistent", "schema", "--output", str(target), "--check"]) == 0
