"""The branch-condition language: values, precise errors with columns, the sandbox's walls, and fuzzing."""

from __future__ import annotations

import ast
import contextlib
import math
from collections import namedtuple
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

import bot.engine.expression
import bot.engine.expression_parser
from bot.engine.expression import MAX_DEPTH, MAX_LENGTH, MAX_SIZE, ExpressionError, compile_expression
from bot.errors import ValidationError


@pytest.fixture(autouse=True)
def compile_afresh() -> None:
    """Each test parses its own sources: no tree in compile_expression's cache was built by an earlier test."""
    compile_expression.cache_clear()


SLOTS: dict[str, Any] = {
    "order": {"status": "delayed", "number": "10482", "items": [{"sku": "A1", "qty": 2}], "total": 12.5},
    "count": 3,
    "name": "Ada",
    "answer": "  Yes ",
    "tags": ["vip", "nl"],
    "balance": Decimal("4.20"),
    "empty": [],
    "steps": range(3),
    "flag": False,
    "contact": {"name": "Ada", "wa_id": "31612345678", "language": "nl"},
}


@pytest.mark.parametrize(
    ("source", "value"),
    [
        ("order is none", False),
        ("missing is none", True),
        ("order is not none", True),
        ('order.status == "delayed"', True),
        ("order.status == 'delayed'", True),
        ('order.status != "delayed"', False),
        ("order.items[0].sku", "A1"),
        ("order.items[0].qty * 2", 4),
        ("order.items[-1]['sku']", "A1"),
        ("order.items[5]", None),
        ("order.nothing.deeper", None),
        ("missing.anything[3].x", None),
        ("order['status']", "delayed"),
        ("len(order.items) > 0", True),
        ("len(missing)", None),
        ("len(contact)", 3),
        ('lower(answer) == "  yes "', True),
        ("upper(name)", "ADA"),
        ("lower(count)", None),
        ("count + 1", 4),
        ("count - 5", -2),
        ("count * 2.5", 7.5),
        ("count / 2", 1.5),
        ("-count", -3),
        ("+count", 3),
        ("1 + 2 * 3", 7),
        ("(1 + 2) * 3", 9),
        ("balance < 5", True),
        ("balance + 1", Decimal("5.20")),
        ('name + " Lovelace"', "Ada Lovelace"),
        ("tags + ['new']", ["vip", "nl", "new"]),
        ('"vip" in tags', True),
        ('"gold" not in tags', True),
        ('"d" in name', True),
        ('"status" in order', True),
        ("3 in name", False),
        ("1 in none", False),
        ("1 not in none", False),
        ("1 in count", False),
        ("1 in steps", False),  # a range is not one of the containers `in` looks inside
        ("tags in order", False),  # a list cannot be a key
        ('order.status in ["delayed", "lost"]', True),
        ("[]", []),
        ("[count, name]", [3, "Ada"]),
        ("1 < count < 5", True),
        ("1 < count < 2", False),
        ("count >= 3 and count <= 3", True),
        ('"a" < 3', False),
        ("none < 3", False),
        ("not ('a' < 3)", True),
        ("true", True),
        ("false", False),
        ("none", None),
        ("True and not False", True),
        ("None is none", True),
        ("12", 12),
        ("3.5", 3.5),
        ("'it\\'s'", "it's"),
        ('"a\\nb"', "a\nb"),
        ('"back\\\\slash"', "back\\slash"),
        ("flag or name", "Ada"),
        ("count and name", "Ada"),
        ("empty or missing", None),
        ("not empty", True),
        ("not not count", True),
        ("contact.language == 'nl'", True),
        ("contact.wa_id[0]", "3"),
        ("order.total >= 12.5", True),
        ("count == 3.0", True),
        ("lower", None),  # a slot named like a function is still a slot
    ],
)
def test_expressions_evaluate_to_their_values(source: str, value: Any) -> None:
    """Each expression of the language evaluates to the value flows/README.md promises."""
    result = compile_expression(source).evaluate(SLOTS)
    assert result == value
    assert type(result) is type(value)


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("order.status = 1", "expression 'order.status = 1': column 14: use == to compare"),
        ("a && b", "expression 'a && b': column 3: use 'and' instead of '&&'"),
        ("a || b", "expression 'a || b': column 3: use 'or' instead of '||'"),
        ("a & b", "expression 'a & b': column 3: use 'and' instead of '&'"),
        ("a | b", "expression 'a | b': column 3: use 'or' instead of '|'"),
        ("!a", "expression '!a': column 1: use 'not' (or != to compare)"),
        ("a ** 2", "expression 'a ** 2': column 3: '**' is not supported: use + - * /"),
        ("a // 2", "expression 'a // 2': column 3: '//' is not supported: use + - * /"),
        ("a % 2", "expression 'a % 2': column 3: '%' is not supported: use + - * /"),
        ("x[1:2]", "expression 'x[1:2]': column 4: unexpected character ':'"),
        ("a # b", "expression 'a # b': column 3: unexpected character '#'"),
        ("'abc", "expression \"'abc\": column 1: text is never closed: add the missing '"),
        ('x == "abc', "expression 'x == \"abc': column 6: text is never closed: add the missing \""),
        ('"a\\qb"', "expression '\"a\\\\qb\"': column 3: unknown escape in text: use \\\\ \\\" \\' \\n or \\t"),
        ("", "expression '': column 1: the expression is empty"),
        ("   ", "expression '   ': column 1: the expression is empty"),
        ("a +", "expression 'a +': column 4: the expression ends too early"),
        ("(a", "expression '(a': column 3: expected ')' to close '(' at column 1"),
        ("x[0", "expression 'x[0': column 4: expected ']' to close '[' at column 2"),
        ("[1, 2", "expression '[1, 2': column 6: expected ']' to close '[' at column 1"),
        ("len(a", "expression 'len(a': column 6: expected ')' to close '(' at column 4"),
        ("a b", "expression 'a b': column 3: unexpected 'b'"),
        ("1 2", "expression '1 2': column 3: unexpected '2'"),
        ("a )", "expression 'a )': column 3: unexpected ')'"),
        ("x if y else z", "expression 'x if y else z': column 3: unexpected 'if'"),
        ("a AND b", "expression 'a AND b': column 3: unexpected 'AND': did you mean 'and'?"),
        ("x Is none", "expression 'x Is none': column 3: unexpected 'Is': did you mean 'is'?"),
        ("and", "expression 'and': column 1: unexpected 'and'"),
        ("x is 3", "expression 'x is 3': column 6: 'is' only compares with none: use == to compare values"),
        ("x is y", "expression 'x is y': column 6: 'is' only compares with none: use == to compare values"),
        ("1 + )", "expression '1 + )': column 5: unexpected ')'"),
        ("* 2", "expression '* 2': column 1: unexpected '*'"),
        ("a 'b'", "expression \"a 'b'\": column 3: unexpected \"'b'\""),
        (
            "x is not 'a'",
            "expression \"x is not 'a'\": column 10: 'is' only compares with none: use == to compare values",
        ),
        ("foo(x)", "expression 'foo(x)': column 1: unknown function 'foo': use len(), lower() or upper()"),
        ("len()", "expression 'len()': column 5: len() takes one argument"),
        ("len(a, b)", "expression 'len(a, b)': column 6: len() takes one argument"),
        ("x.y()", "expression 'x.y()': column 4: only len(), lower() and upper() can be called"),
        ("x.1", "expression 'x.1': column 3: expected a name after '.'"),
        ("x.", "expression 'x.': column 3: expected a name after '.'"),
        (
            "x.__class__",
            "expression 'x.__class__': column 3: '__class__' is not allowed: names starting with '_' are private",
        ),
        ("_x", "expression '_x': column 1: '_x' is not allowed: names starting with '_' are private"),
        (
            "a == ''.__len__",
            "expression \"a == ''.__len__\": column 9: '__len__' is not allowed: names starting with '_' are private",
        ),
        ("x\n= 1", "expression 'x\\n= 1': column 3: use == to compare"),
        ("ä == 1 =", "expression 'ä == 1 =': column 8: use == to compare"),
    ],
)
def test_a_bad_expression_is_refused_with_its_column(source: str, message: str) -> None:
    """Every compile error names the expression, the 1-based column of the problem and what to do."""
    with pytest.raises(ExpressionError) as caught:
        compile_expression(source)
    assert caught.value.message == message
    assert isinstance(caught.value, ValidationError)
    assert caught.value.column == int(message.split(": column ")[1].split(":")[0])
    assert caught.value.source == source


@pytest.mark.parametrize(
    ("source", "slots", "message"),
    [
        ("count + 1", {}, "expression 'count + 1': column 7: '+' cannot combine none and a number"),
        ('"x" * 1000000000', {}, "expression '\"x\" * 1000000000': column 5: '*' cannot combine text and a number"),
        ("tags * 2", {"tags": [1]}, "expression 'tags * 2': column 6: '*' cannot combine a list and a number"),
        ("a - b", {"a": "x", "b": "y"}, "expression 'a - b': column 3: '-' cannot combine text and text"),
        ("flag + 1", {"flag": True}, "expression 'flag + 1': column 6: '+' cannot combine true/false and a number"),
        ("1 / count", {"count": 0}, "expression '1 / count': column 3: division by zero"),
        ("-name", {"name": "Ada"}, "expression '-name': column 1: '-' needs a number, not text"),
        ("a + 1.5", {"a": Decimal(1)}, "expression 'a + 1.5': column 3: '+' cannot combine a number and a number"),
        ("a / 3", {"a": 10**400}, "expression 'a / 3': column 3: '/' gives a number too large to work with"),
        ("a * a", {"a": 2**100}, "expression 'a * a': column 3: '*' gives a number too large to work with"),
        ("a + 1", {"a": object()}, "expression 'a + 1': column 3: '+' cannot combine a object and a number"),
        ("a + 1", {"a": {}}, "expression 'a + 1': column 3: '+' cannot combine a mapping and a number"),
        ("-a", {"a": Decimal("sNaN")}, "expression '-a': column 1: '-' cannot be applied to Decimal('sNaN')"),
        ("a * 2", {"a": 2**127}, "expression 'a * 2': column 3: '*' gives a number too large to work with"),
    ],
)
def test_arithmetic_that_cannot_be_done_raises_naming_the_expression(
    source: str, slots: dict[str, Any], message: str
) -> None:
    """Arithmetic on the wrong types raises a ValidationError with the operator's column, not a TypeError."""
    expression = compile_expression(source)
    with pytest.raises(ExpressionError) as caught:
        expression.evaluate(slots)
    assert caught.value.message == message


@pytest.mark.parametrize(
    ("source", "slots"),
    [
        ("a < a", {"a": Decimal("NaN")}),
        ("a >= 1", {"a": Decimal("NaN")}),
        ("a == 1", {"a": Decimal("sNaN")}),
        ("a in [1, 2]", {"a": Decimal("sNaN")}),
        ("1 in a", {"a": [Decimal("sNaN")]}),
    ],
)
def test_a_comparison_with_a_decimal_nan_is_false(source: str, slots: dict[str, Any]) -> None:
    """Ordering a decimal NaN, or comparing a signalling one, is a comparison that cannot be made: false, no error."""
    assert compile_expression(source).evaluate(slots) is False


def test_strings_and_lists_cannot_grow_past_the_cap() -> None:
    """'+' refuses to build a text or list over MAX_SIZE, checked before anything is allocated."""
    joined = compile_expression("a + a")
    assert joined.evaluate({"a": "x" * (MAX_SIZE // 2)}) == "x" * MAX_SIZE
    assert joined.evaluate({"a": [0] * (MAX_SIZE // 2)}) == [0] * MAX_SIZE
    with pytest.raises(ExpressionError, match="would build a text over 10,000 characters"):
        joined.evaluate({"a": "x" * (MAX_SIZE // 2 + 1)})
    with pytest.raises(ExpressionError, match="would build a list over 10,000 items"):
        joined.evaluate({"a": [0] * MAX_SIZE})


def test_integers_may_use_all_128_bits() -> None:
    """An integer of exactly MAX_BITS bits is a value; one bit more is refused (see the arithmetic errors)."""
    assert compile_expression("a * 2").evaluate({"a": 2**126}) == 2**127


def test_a_float_that_overflows_is_infinity_not_an_error() -> None:
    """Float arithmetic follows IEEE: a product past the largest float is infinity."""
    assert compile_expression("a * 10").evaluate({"a": 1e308}) == math.inf


def test_sources_over_the_length_cap_are_refused() -> None:
    """A source over MAX_LENGTH characters is refused at the first character past the cap, shown shortened."""
    assert compile_expression("a" * MAX_LENGTH).names == {"a" * MAX_LENGTH}
    with pytest.raises(ExpressionError) as caught:
        compile_expression("a" * 100_000)
    assert caught.value.column == MAX_LENGTH + 1
    assert caught.value.message == f"expression '{'a' * 60}…': column 501: longer than 500 characters"


def test_a_source_of_the_longest_length_is_shown_whole() -> None:
    """An error in a source of exactly MAX_LENGTH characters quotes all of it."""
    source = "a" * (MAX_LENGTH - 1) + "!"
    with pytest.raises(ExpressionError) as caught:
        compile_expression(source)
    assert caught.value.message == f"expression {source!r}: column {MAX_LENGTH}: use 'not' (or != to compare)"


@pytest.mark.parametrize(
    ("template", "column"),
    [
        ("({})", MAX_DEPTH),
        ("-{}", MAX_DEPTH),
        ("not {}", 4 * (MAX_DEPTH - 1) + 1),
        ("x[{}]", 2 * MAX_DEPTH),
        ("len({})", 4 * (MAX_DEPTH - 1) + 1),
        ("[{}]", MAX_DEPTH),
    ],
)
def test_nesting_is_capped(template: str, column: int) -> None:
    """MAX_DEPTH levels compile; one more is refused where the extra level opens."""
    deepest = "x"
    for _ in range(MAX_DEPTH - 1):
        deepest = template.format(deepest)
    assert compile_expression(deepest).names == {"x"}
    with pytest.raises(ExpressionError) as caught:
        compile_expression(template.format(deepest))
    assert caught.value.reason == f"nested more than {MAX_DEPTH} levels deep"
    assert caught.value.column == column


def test_nesting_is_counted_per_level_not_per_item() -> None:
    """Siblings do not add up: a list of 25 items, each one level down, is 2 levels deep."""
    assert compile_expression("[" + ", ".join(["(1)"] * 25) + "]").evaluate({}) == [1] * 25


@pytest.mark.parametrize(("inner", "refused"), [(9, False), (10, True)])
def test_a_level_left_is_a_level_less(inner: int, refused: bool) -> None:
    """After `(1)` at level 11 returns, its sibling starts at level 11 again: 9 more levels fit, 10 do not."""
    source = "(" * 10 + "(1) + " + "(" * inner + "1" + ")" * (10 + inner)
    if not refused:
        assert compile_expression(source).evaluate({}) == 2
        return
    with pytest.raises(ExpressionError) as caught:
        compile_expression(source)
    assert (caught.value.column, caught.value.reason) == (26, f"nested more than {MAX_DEPTH} levels deep")


@pytest.mark.parametrize(
    ("first", "column"),
    [
        pytest.param("[true]", 2, id="literal-word"),
        pytest.param("[1]", 2, id="number"),
        pytest.param("['s']", 2, id="text"),
        pytest.param("[a.b]", 4, id="attribute-at-its-name"),
        pytest.param("[a[0]]", 3, id="index-at-its-bracket"),
        pytest.param("[len(a)]", 2, id="call"),
        pytest.param("[[1]]", 2, id="list"),
        pytest.param("[a < b]", 2, id="comparison"),
        pytest.param("(x is none)", 7, id="is-none"),
    ],
)
def test_a_tree_too_deep_is_refused_at_the_first_node_past_the_limit(first: str, column: int) -> None:
    """Past MAX_DEPTH levels of operators the error points at the column of a node one level too deep."""
    with pytest.raises(ExpressionError) as caught:
        compile_expression(first + " + 1" * (MAX_DEPTH - 1))
    assert caught.value.reason == f"nested more than {MAX_DEPTH} levels deep"
    assert caught.value.column == column


def test_long_operator_chains_are_capped_too() -> None:
    """A chain of more than MAX_DEPTH operators is refused, so evaluation never recurses deeply."""
    assert compile_expression(" + ".join(["1"] * MAX_DEPTH)).evaluate({}) == MAX_DEPTH
    with pytest.raises(ExpressionError, match="nested more than 20 levels deep"):
        compile_expression(" + ".join(["1"] * (MAX_DEPTH + 2)))


def test_names_are_the_top_level_names_read() -> None:
    """`names` holds the slots (and contact) read, `references` each read with its column in source order."""
    expression = compile_expression("order.status == 'x' and len(items) > count or order.items[count] is none")
    assert expression.names == {"order", "items", "count"}
    assert expression.references == (("order", 1), ("items", 29), ("count", 38), ("order", 47), ("count", 59))
    assert compile_expression("true and 'order' == none").names == frozenset()


def test_holds_reads_the_value_as_a_condition() -> None:
    """`holds` is the truth of the value, as a branch case reads it."""
    assert compile_expression("tags").holds({"tags": ["a"]}) is True
    assert compile_expression("tags").holds({}) is False
    assert compile_expression("count or 0").holds({"count": 0}) is False


class Undecided:
    """A value whose truth cannot be read (as some libraries' arrays and frames refuse `bool`)."""

    def __bool__(self) -> bool:
        raise TypeError("the truth value is ambiguous")


@pytest.mark.parametrize("source", ["a", "not a", "b or a", "a and b"])
def test_a_value_with_no_truth_raises_naming_the_expression(source: str) -> None:
    """A value that is neither true nor false, met by `holds`, `not`, `and` or `or`, is an ExpressionError."""
    with pytest.raises(ExpressionError) as caught:
        compile_expression(source).holds({"a": Undecided(), "b": 0})
    assert caught.value.message == f"expression {source!r}: column 1: a Undecided is neither true nor false"


def test_python_spellings_of_the_literals_are_accepted() -> None:
    """True, False and None work as well as the language's true, false and none."""
    assert compile_expression("x is None and True != False").evaluate({}) is True


# --- the sandbox's walls ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Order:
    number: str
    status: str

    @property
    def label(self) -> str:
        raise AssertionError("properties are never run")

    def cancel(self) -> str:
        raise AssertionError("methods are never run")


class Account(BaseModel):
    balance: float


Point = namedtuple("Point", "x y")


@dataclass(slots=True)
class Slotted:
    x: int
    later: int = field(init=False)
    helper: Any = None


def tagged() -> None:
    """A function carrying an attribute of its own."""


tagged.colour = "red"  # type: ignore[attr-defined]


class Plain:
    kind = "class attribute"

    def __init__(self) -> None:
        self.visible = "yes"
        self.callback = print


@pytest.mark.parametrize(
    ("source", "value"),
    [
        ("order.number", "10482"),
        ("order.label", None),
        ("order.cancel", None),
        ("order.mro", None),
        ("account.balance", 4.2),
        ("account.model_dump", None),
        ("account.model_fields", None),
        ("point.x", 1),
        ("point.count", None),
        ("plain.visible", "yes"),
        ("plain.kind", None),
        ("plain.callback", None),
        ("space.inner.value", 7),
        ("cls.mro", None),
        ("cls.real", None),
        ("function.func_globals", None),
        ("module.path", None),
        ("builtin.self", None),
        ("text.upper", None),
        ("text.join", None),
        ("data.mro", "a key, not a method"),
        ("data.items", None),
        ("data.get", None),
        ("slotted.x", 5),
        ("slotted.later", None),
        ("slotted.helper", None),
        ("moduled.helper", None),
        ("tagged.colour", None),
    ],
)
def test_attributes_read_only_data_fields(source: str, value: Any) -> None:
    """`.name` on objects reads data fields only: no properties, methods, classes, modules or callables."""
    names = {
        "order": Order("10482", "delayed"),
        "account": Account(balance=4.2),
        "point": Point(1, 2),
        "plain": Plain(),
        "space": SimpleNamespace(inner=SimpleNamespace(value=7)),
        "cls": int,
        "function": test_attributes_read_only_data_fields,
        "module": bot.engine.expression,
        "builtin": len,
        "text": "abc",
        "data": {"mro": "a key, not a method"},
        "slotted": Slotted(5, helper=print),
        "moduled": Slotted(5, helper=bot.engine.expression),
        "tagged": tagged,
    }
    assert compile_expression(source).evaluate(names) == value


@pytest.mark.parametrize(
    "source",
    [
        "x.__class__",
        "x.__class__.__mro__[1].__subclasses__()",
        "x._private",
        "_x",
        "__builtins__",
        "__import__('os')",
        "().__class__",
        "lower.__self__",
        "[].__class__.__base__",
    ],
)
def test_escapes_through_private_names_do_not_compile(source: str) -> None:
    """Any name or attribute starting with an underscore is refused when compiling."""
    with pytest.raises(ExpressionError, match=r"names starting with '_' are private|unexpected"):
        compile_expression(source)


@pytest.mark.parametrize(
    "source",
    ["eval('1')", "exec('x')", "open('/etc/passwd')", "getattr(x, 'y')", "x.y.z()", "(lambda: 1)()", "x.mro()"],
)
def test_nothing_but_the_three_functions_can_be_called(source: str) -> None:
    """Calls other than len(), lower() and upper() are refused when compiling."""
    with pytest.raises(ExpressionError):
        compile_expression(source)


def test_the_module_never_runs_python_code() -> None:
    """bot/engine/expression.py calls none of eval, exec, compile or __import__."""
    tree = ast.parse(Path(bot.engine.expression.__file__).read_text(encoding="utf-8"))
    called = {node.func.id for node in ast.walk(tree) if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)}
    assert not called & {"eval", "exec", "compile", "__import__"}


def test_the_parser_never_runs_python_code() -> None:
    """The parser, which reads the source, calls none of eval, exec, compile or __import__ either."""
    tree = ast.parse(Path(bot.engine.expression_parser.__file__).read_text(encoding="utf-8"))
    called = {node.func.id for node in ast.walk(tree) if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)}
    assert not called & {"eval", "exec", "compile", "__import__"}


# --- fuzzing -------------------------------------------------------------------------------------------

GRAMMAR_PIECES = [
    *"abcx_.[](),'\"=!<>+-*/%&| 0123456789",
    *["==", "!=", "<=", ">=", " and ", " or ", " not ", " in ", " is ", " none ", "true", "len(", "lower("],
    *["upper(", "contact", "\\", "\n", "é", "\u0661"],
]


@settings(max_examples=400)
@given(st.one_of(st.text(max_size=80), st.lists(st.sampled_from(GRAMMAR_PIECES), max_size=40).map("".join)))
def test_compiling_any_text_raises_nothing_but_validation_error(source: str) -> None:
    """Random text either compiles or raises ValidationError, never anything else."""
    with contextlib.suppress(ValidationError):
        compile_expression(source)


ATOMS = st.sampled_from(
    [
        *["a", "b", "c", "contact", "a.name", "b[0]", "c['k']", "contact.name"],
        *["1", "0", "-1", "2.5", '"x"', "''", "true", "none", "[1, 'a']", "[]"],
    ]
)


def _combine(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    operators = st.sampled_from(
        ["+", "-", "*", "/", "==", "!=", "<", "<=", ">", ">=", "in", "not in", "and", "or", "is", "is not"]
    )
    return st.one_of(
        st.tuples(children, operators, children).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
        children.map(lambda c: f"not {c}"),
        children.map(lambda c: f"-{c}"),
        st.tuples(st.sampled_from(["len", "lower", "upper"]), children).map(lambda t: f"{t[0]}({t[1]})"),
        children.map(lambda c: f"{c}.name"),
        st.tuples(children, children).map(lambda t: f"{t[0]}[{t[1]}]"),
        st.lists(children, max_size=3).map(lambda items: f"[{', '.join(items)}]"),
    )


EXPRESSIONS = st.recursive(ATOMS, _combine, max_leaves=12)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.decimals(allow_nan=True),
    st.text(max_size=20),
    st.builds(SimpleNamespace, name=st.text(max_size=5)),
    st.builds(Point, st.integers(), st.none()),
)
VALUES = st.recursive(
    SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.sampled_from(["k", "name", "0", ""]), children, max_size=3),
    ),
    max_leaves=10,
)


@settings(max_examples=400)
@given(EXPRESSIONS, st.dictionaries(st.sampled_from(["a", "b", "c", "contact"]), VALUES))
def test_evaluating_any_expression_raises_nothing_but_validation_error(source: str, slots: dict[str, Any]) -> None:
    """Any compiled expression over any slot values returns a value or raises ValidationError, nothing else."""
    try:
        expression = compile_expression(source)
    except ValidationError:
        assume(False)
        return
    try:
        expression.evaluate(slots)
        expression.holds(slots)
    except ValidationError:
        pass
