"""The small language of `branch` conditions, evaluated without Python's `eval` (`expression_parser` reads it).

Semantics, chosen so that a condition over missing or odd data picks a branch instead of crashing a turn:

- A missing name, attribute, key or index is `none`. `.name` on a mapping looks up the key; on an object it
  reads only a data field (dataclass, named tuple, pydantic model, or the instance's own `__dict__`), never a
  property, method, class or module; a callable value reads as `none`. Names starting with `_` are refused
  when compiling, so `__class__` and friends cannot even be written.
- A comparison that cannot be made (`"a" < 3`, `1 in none`) is false; `in` looks only inside text, lists,
  tuples, sets and mappings. `len`, `lower` and `upper` of a value they do not apply to are `none`.
- Arithmetic is for numbers, plus `+` joining two texts or two lists; anything else (`none + 1`, `"x" * 3`),
  division by zero, a number over 128 bits or a text or list over 10,000 items raises `ExpressionError`
  naming the expression and the operator's column, because there is no sensible value to go on with.
- `and`/`or` return one of their operands, as in Python. Sources are capped at 500 characters and 20 levels of nesting.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, is_dataclass
from decimal import Decimal
from functools import lru_cache
from types import ModuleType
from typing import Any, NoReturn

from bot.engine.expression_parser import (
    MAX_DEPTH,
    MAX_LENGTH,
    Attribute,
    Binary,
    Call,
    Compare,
    ExpressionError,
    Index,
    List,
    Literal,
    Logic,
    Name,
    Node,
    Unary,
    children,
    parse,
)

# What flows' checks and the tests use from here; the limits on sources are the parser's.
__all__ = ["MAX_BITS", "MAX_DEPTH", "MAX_LENGTH", "MAX_SIZE", "Expression", "ExpressionError", "compile_expression"]

MAX_SIZE = 10_000  # the longest text or list `+` may build
MAX_BITS = 128  # the largest integer arithmetic may build


@dataclass(frozen=True)
class Expression:
    """A compiled condition: its source, the top-level names it reads, and the tree it evaluates.

    `names` are the slots (and `contact`) read; `references` lists every read with its 1-based column, in
    source order, so a checker can point at an unknown slot.
    """

    source: str
    names: frozenset[str]
    references: tuple[tuple[str, int], ...]
    _tree: Node = field(repr=False, compare=False)

    def evaluate(self, names: Mapping[str, Any]) -> Any:
        """The expression's value over `names` (slots and `contact`); see the module docstring for the rules."""
        return self._value(self._tree, names)

    def holds(self, names: Mapping[str, Any]) -> bool:
        """Whether the expression is true over `names`, as a `branch` case reads it."""
        return self._truth(self.evaluate(names), self._tree.column)

    def _value(self, node: Node, names: Mapping[str, Any]) -> Any:
        match node:
            case Literal(value=value):
                return value
            case Name(name=name):
                return names.get(name)
            case Attribute(target=target, name=name):
                return _attribute(self._value(target, names), name)
            case Index(target=target, index=index):
                return _item(self._value(target, names), self._value(index, names))
            case Call(function=function, argument=argument):
                return _call(function, self._value(argument, names))
            case Unary(op="not", operand=operand, column=column):
                return not self._truth(self._value(operand, names), column)
            case Unary(op=op, operand=operand, column=column):
                value = self._value(operand, names)
                if not _is_number(value):
                    raise ExpressionError(self.source, column, f"{op!r} needs a number, not {_kind(value)}")
                try:
                    return -value if op == "-" else +value
                except ArithmeticError:  # the decimal module's signals, e.g. a signalling NaN
                    raise ExpressionError(self.source, column, f"{op!r} cannot be applied to {value!r}") from None
            case Binary(op=op, left=left, right=right, column=column):
                return self._arithmetic(op, self._value(left, names), self._value(right, names), column)
            case Logic(op=op, operands=operands, column=column):
                last: Any = None
                for operand in operands:
                    last = self._value(operand, names)
                    if self._truth(last, column) == (op == "or"):
                        break
                return last
            case Compare(left=left, links=links):
                value = self._value(left, names)
                for op, right in links:
                    other = self._value(right, names)
                    if not _compare(op, value, other):
                        return False
                    value = other
                return True
            case List(items=items):
                return [self._value(item, names) for item in items]
        raise AssertionError(f"unknown node {node!r}")  # pragma: no cover

    def _truth(self, value: Any, column: int) -> bool:
        try:
            return bool(value)
        except (TypeError, ValueError):
            raise ExpressionError(self.source, column, f"{_kind(value)} is neither true nor false") from None

    def _arithmetic(self, op: str, left: Any, right: Any, column: int) -> Any:
        def fail(reason: str) -> NoReturn:
            raise ExpressionError(self.source, column, reason)

        if op == "+" and isinstance(left, str) and isinstance(right, str):
            if len(left) + len(right) > MAX_SIZE:
                fail(f"'+' would build a text over {MAX_SIZE:,} characters")
            return left + right
        if op == "+" and isinstance(left, list | tuple) and isinstance(right, list | tuple):
            if len(left) + len(right) > MAX_SIZE:
                fail(f"'+' would build a list over {MAX_SIZE:,} items")
            return [*left, *right]
        if not (_is_number(left) and _is_number(right)):
            fail(f"{op!r} cannot combine {_kind(left)} and {_kind(right)}")
        try:
            result = _ARITHMETIC[op](left, right)
        except ZeroDivisionError:
            fail("division by zero")
        except TypeError:
            fail(f"{op!r} cannot combine {_kind(left)} and {_kind(right)}")
        except ArithmeticError:  # OverflowError and the decimal module's signals
            fail(f"{op!r} gives a number too large to work with")
        if isinstance(result, int) and result.bit_length() > MAX_BITS:
            fail(f"{op!r} gives a number too large to work with")
        return result


_ARITHMETIC: Mapping[str, Callable[[Any, Any], Any]] = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
    "/": operator.truediv,
}
_COMPARISONS: Mapping[str, Callable[[Any, Any], Any]] = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "is": operator.is_,
    "is not": operator.is_not,
}
_CONTAINERS = (str, list, tuple, set, frozenset, Mapping)


def _compare(op: str, left: Any, right: Any) -> bool:
    if op in ("in", "not in"):
        if not isinstance(right, _CONTAINERS) or (isinstance(right, str) and not isinstance(left, str)):
            return False
        try:
            return (left in right) == (op == "in")
        except (TypeError, ArithmeticError):  # an unhashable key; a decimal signalling NaN met on the way
            return False
    try:
        return bool(_COMPARISONS[op](left, right))
    except (TypeError, ValueError, ArithmeticError):  # ArithmeticError: ordering a decimal NaN signals
        return False


def _attribute(value: Any, name: str) -> Any:
    if isinstance(value, Mapping):
        return value.get(name)
    if value is None or callable(value) or isinstance(value, ModuleType):
        return None
    if is_dataclass(value):
        allowed = {f.name for f in fields(value)}
    elif isinstance(value, tuple) and isinstance(named := getattr(type(value), "_fields", None), tuple):
        allowed = set(named)
    elif isinstance(model_fields := getattr(type(value), "model_fields", None), Mapping):
        allowed = set(model_fields)
    else:
        own = getattr(value, "__dict__", None)
        found = own.get(name) if isinstance(own, dict) else None
        return None if callable(found) else found
    found = getattr(value, name, None) if name in allowed else None
    return None if callable(found) or isinstance(found, ModuleType) else found


def _item(value: Any, key: Any) -> Any:
    if isinstance(value, Mapping):
        try:
            return value.get(key)
        except TypeError:  # an unhashable key
            return None
    if isinstance(value, list | tuple | str) and isinstance(key, int) and not isinstance(key, bool):
        try:
            return value[key]
        except IndexError:
            return None
    return None


def _call(function: str, value: Any) -> Any:
    if function == "len":
        return len(value) if isinstance(value, _CONTAINERS) else None
    if not isinstance(value, str):
        return None
    return value.lower() if function == "lower" else value.upper()


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float | Decimal) and not isinstance(value, bool)


def _kind(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true/false"
    if _is_number(value):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, Mapping):
        return "a mapping"
    return f"a {type(value).__name__}"


@lru_cache(maxsize=1024)
def compile_expression(source: str) -> Expression:
    """Parse `source` into an `Expression`, or raise `ExpressionError` (a `ValidationError`) with its column."""
    tree = parse(source)
    references: list[tuple[str, int]] = []
    stack: list[Node] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, Name):
            references.append((node.name, node.column))
        stack.extend(children(node))
    references.sort(key=lambda reference: reference[1])
    return Expression(source, frozenset(name for name, _ in references), tuple(references), tree)
