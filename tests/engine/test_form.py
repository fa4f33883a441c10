"""A form step's answers checked against its declared fields, and the token that ties an answer to one send."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.engine.flow import Form, FormField
from bot.engine.form import LIST_MAX, TEXT_MAX, check_answers, form_token

NOW = datetime(2026, 4, 10, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("kind", "given", "kept"),
    [
        ("text", "  Great  ", "Great"),
        ("text", 42, "42"),
        ("number", "4.0", 4),
        ("number", 2.5, 2.5),
        ("number", " 7 ", 7),
        ("date", "2026-04-09", "2026-04-09"),
        ("date", 1775692800000, "2026-04-09"),  # Unix milliseconds, as older Flow versions send a DatePicker's
        ("choice", "store", "store"),
        ("list", ["staff", "speed"], ["staff", "speed"]),
        ("boolean", False, False),
    ],
)
def test_each_kind_reads_what_its_components_send(kind: Any, given: Any, kept: Any) -> None:
    """TextInput and TextArea text, numbers, DatePicker dates, a choice's id, a CheckboxGroup's ids, an OptIn."""
    assert check_answers({"x": FormField(kind)}, {"x": given}) == {"x": kept}


@pytest.mark.parametrize(
    ("kind", "given"),
    [
        ("text", ["a"]),
        ("text", "x" * (TEXT_MAX + 1)),
        ("number", "four"),
        ("number", True),
        ("number", "1" * 41),
        ("date", "09/04/2026"),
        ("date", "2026-02-30"),
        ("date", 10**15),
        ("choice", {"id": "store"}),
        ("choice", "x" * 201),
        ("list", "staff"),
        ("list", ["staff", 3]),
        ("list", ["x"] * (LIST_MAX + 1)),
        ("boolean", "yes"),
    ],
)
def test_an_answer_of_the_wrong_kind_refuses_the_whole_answer(kind: Any, given: Any) -> None:
    """One field of the wrong kind (or too long) makes the answer wrong, so nothing half-read reaches the slots."""
    fields = {"ok": FormField("text"), "x": FormField(kind)}
    assert check_answers(fields, {"ok": "fine", "x": given}) is None


def test_required_fields_must_be_given_and_optional_ones_may_be_empty() -> None:
    """Absent, null, blank or empty is no answer: refused when required, left out of the slots otherwise."""
    fields = {"rating": FormField("choice", required=True), "comment": FormField("text"), "liked": FormField("list")}
    assert check_answers(fields, {"rating": "5", "comment": "   ", "liked": []}) == {"rating": "5"}
    for missing in ({}, {"rating": None}, {"rating": ""}, {"rating": "  "}):
        assert check_answers(fields, missing) is None


def test_fields_not_declared_never_reach_the_slots() -> None:
    """An answer may carry more than the step keeps (or try to set other slots): only declared fields come back."""
    assert check_answers({"rating": FormField("choice")}, {"rating": "4", "verified": True}) == {"rating": "4"}


def test_each_send_of_a_step_gets_its_own_token() -> None:
    """The token names the Flow JSON, and differs by contact, flow, step and moment, so a stale answer is told apart."""
    step = Form(id="rate", flow_json="feedback", cta="Rate us")
    token = form_token(step, "31612345678", "feedback", NOW)
    assert token.startswith("feedback.")
    assert len(token) == len("feedback.") + 20
    assert token == form_token(step, "31612345678", "feedback", NOW)
    others = {
        form_token(step, "31699999999", "feedback", NOW),
        form_token(step, "31612345678", "main", NOW),
        form_token(Form(id="again", flow_json="feedback", cta="Rate us"), "31612345678", "feedback", NOW),
        form_token(step, "31612345678", "feedback", NOW + timedelta(seconds=1)),
    }
    assert token not in others
    assert len(others) == 4
