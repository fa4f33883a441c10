"""The small language of `branch` conditions, parsed by hand into a tree and evaluated without Python's `eval`.

The grammar (flows/README.md, "Expressions"), loosest binding first::

    or / and / not  >  comparisons (== != < <= > >= in, not in, is none, is not none; a < b < c chains)
                    >  + -  >  * /  >  unary - +  >  x.name  x[index]  len() lower() upper()
    literals: "text" 'text' 12 3.5 true false none (True False None too) [a, b]

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
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, fields, is_dataclass
from decimal import Decimal
from functools import lru_cache
from types import ModuleType
from typing import Any, NoReturn

from bot.errors import ValidationError

MAX_LENGTH = 500
MAX_DEPTH = 20  # parentheses and operators; each level costs ~14 Python frames when parsing
MAX_SIZE = 10_000  # the longest text or list `+` may build
MAX_BITS = 128  # the largest integer arithmetic may build
FUNCTIONS = ("len", "lower", "upper")
_LITERALS: Mapping[str, Any] = {
    "true": True,
    "false": False,
    "none": None,
    "True": True,
    "False": False,
    "None": None,
}
_KEYWORDS = frozenset({"and", "or", "not", "in", "is", *_LITERALS})
_TOKEN = re.compile(
    r"(?P<space>\s+)|(?P<number>[0-9]+(?:\.[0-9]+)?)|(?P<name>[^\W\d]\w*)|(?P<quote>[\"'])"
    r"|(?P<op>==|!=|<=|>=|&&|\|\||\*\*|//|[-<>+*/()\[\].,=!&|%])"
)
_HINTS = {
    "=": "use == to compare",
    "!": "use 'not' (or != to compare)",
    "&&": "use 'and' instead of '&&'",
    "&": "use 'and' instead of '&'",
    "||": "use 'or' instead of '||'",
    "|": "use 'or' instead of '|'",
    "**": "'**' is not supported: use + - * /",
    "//": "'//' is not supported: use + - * /",
    "%": "'%' is not supported: use + - * /",
}
_ESCAPES = {"\\": "\\", '"': '"', "'": "'", "n": "\n", "t": "\t"}


class ExpressionError(ValidationError):
    """An expression that does not compile or cannot be evaluated, with the 1-based column of the problem."""

    def __init__(self, source: str, column: int, reason: str) -> None:
        shown = source if len(source) <= MAX_LENGTH else source[:60] + "…"
        super().__init__(f"expression {shown!r}: column {column}: {reason}")
        self.source = source
        self.column = column
        self.reason = reason


# --- the tree ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Literal:
    value: Any
    column: int


@dataclass(frozen=True, slots=True)
class _Name:
    name: str
    column: int


@dataclass(frozen=True, slots=True)
class _Attribute:
    target: _Node
    name: str
    column: int


@dataclass(frozen=True, slots=True)
class _Index:
    target: _Node
    index: _Node
    column: int


@dataclass(frozen=True, slots=True)
class _Call:
    function: str
    argument: _Node
    column: int


@dataclass(frozen=True, slots=True)
class _Unary:
    op: str  # "-", "+" or "not"
    operand: _Node
    column: int


@dataclass(frozen=True, slots=True)
class _Binary:
    op: str  # "+", "-", "*" or "/"
    left: _Node
    right: _Node
    column: int


@dataclass(frozen=True, slots=True)
class _Logic:
    op: str  # "and" or "or"
    operands: tuple[_Node, ...]
    column: int


@dataclass(frozen=True, slots=True)
class _Compare:
    left: _Node
    links: tuple[tuple[str, _Node], ...]  # a < b <= c: (("<", b), ("<=", c))
    column: int


@dataclass(frozen=True, slots=True)
class _List:
    items: tuple[_Node, ...]
    column: int


_Node = _Literal | _Name | _Attribute | _Index | _Call | _Unary | _Binary | _Logic | _Compare | _List


def _children(node: _Node) -> tuple[_Node, ...]:
    match node:
        case _Attribute(target=target) | _Call(argument=target) | _Unary(operand=target):
            return (target,)
        case _Index(target=target, index=index):
            return (target, index)
        case _Binary(left=left, right=right):
            return (left, right)
        case _Logic(operands=items) | _List(items=items):
            return items
        case _Compare(left=left, links=links):
            return (left, *(right for _, right in links))
    return ()


# --- reading the source --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # "number", "name", "string", "op" or "end"
    text: str
    value: Any
    column: int


def _tokens(source: str) -> Iterator[_Token]:
    at = 0
    while at < len(source):
        match = _TOKEN.match(source, at)
        if match is None:
            raise ExpressionError(source, at + 1, f"unexpected character {source[at]!r}")
        kind, text = match.lastgroup or "", match.group()
        if kind == "quote":
            value, end = _string(source, at)
            yield _Token("string", source[at:end], value, at + 1)
            at = end
            continue
        if kind == "op" and text in _HINTS:
            raise ExpressionError(source, at + 1, _HINTS[text])
        if kind == "number":
            yield _Token(kind, text, float(text) if "." in text else int(text), at + 1)
        elif kind != "space":
            yield _Token(kind, text, text, at + 1)
        at = match.end()
    yield _Token("end", "", None, len(source) + 1)


def _string(source: str, start: int) -> tuple[str, int]:
    """The text literal opening at `start` and the index just past its closing quote."""
    quote, at = source[start], start + 1
    parts: list[str] = []
    while at < len(source):
        char = source[at]
        if char == quote:
            return "".join(parts), at + 1
        if char == "\\":
            escaped = source[at + 1 : at + 2]
            if escaped not in _ESCAPES:
                raise ExpressionError(source, at + 1, "unknown escape in text: use \\\\ \\\" \\' \\n or \\t")
            parts.append(_ESCAPES[escaped])
            at += 2
            continue
        parts.append(char)
        at += 1
    raise ExpressionError(source, start + 1, f"text is never closed: add the missing {quote}")


class _Parser:
    """Recursive descent over the tokens, one method per precedence level."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.tokens = list(_tokens(source))
        self.at = 0
        self.nesting = 0

    def fail(self, column: int, reason: str) -> NoReturn:
        raise ExpressionError(self.source, column, reason)

    def peek(self, ahead: int = 0) -> _Token:
        return self.tokens[min(self.at + ahead, len(self.tokens) - 1)]

    def take(self) -> _Token:
        token = self.peek()
        self.at += 1
        return token

    def keyword(self, word: str, ahead: int = 0) -> bool:
        token = self.peek(ahead)
        return token.kind == "name" and token.text == word

    def op(self, *texts: str) -> bool:
        token = self.peek()
        return token.kind == "op" and token.text in texts

    def unexpected(self, token: _Token) -> NoReturn:
        if token.kind == "end":
            self.fail(token.column, "the expression ends too early")
        hint = ""
        if token.kind == "name" and token.text.lower() in _KEYWORDS and token.text not in _KEYWORDS:
            hint = f": did you mean {token.text.lower()!r}?"
        self.fail(token.column, f"unexpected {token.text!r}{hint}")

    def expect(self, text: str, opened: _Token) -> None:
        if not self.op(text):
            self.fail(self.peek().column, f"expected {text!r} to close {opened.text!r} at column {opened.column}")
        self.take()

    def parse(self) -> _Node:
        node = self.nested(self.disjunction, 1)
        if self.peek().kind != "end":
            self.unexpected(self.peek())
        return node

    def nested(self, parse: Callable[[], _Node], column: int) -> _Node:
        """Parse one level deeper (parentheses, brackets, calls, unary operators), opened at `column`."""
        self.nesting += 1
        if self.nesting > MAX_DEPTH:
            self.fail(column, f"nested more than {MAX_DEPTH} levels deep")
        node = parse()
        self.nesting -= 1
        return node

    def disjunction(self) -> _Node:
        return self.logic("or", self.conjunction)

    def conjunction(self) -> _Node:
        return self.logic("and", self.negation)

    def logic(self, word: str, operand: Callable[[], _Node]) -> _Node:
        column, operands = self.peek().column, [operand()]
        while self.keyword(word):
            self.take()
            operands.append(operand())
        return operands[0] if len(operands) == 1 else _Logic(word, tuple(operands), column)

    def negation(self) -> _Node:
        if not self.keyword("not"):
            return self.comparison()
        column = self.take().column
        return _Unary("not", self.nested(self.negation, column), column)

    def comparison(self) -> _Node:
        column, left = self.peek().column, self.sum()
        links: list[tuple[str, _Node]] = []
        while op := self.comparison_op():
            if op.startswith("is"):
                token = self.take()
                if not (token.kind == "name" and token.text in ("none", "None")):
                    self.fail(token.column, "'is' only compares with none: use == to compare values")
                links.append((op, _Literal(None, token.column)))
            else:
                links.append((op, self.sum()))
        return _Compare(left, tuple(links), column) if links else left

    def comparison_op(self) -> str | None:
        token = self.peek()
        if token.kind == "op" and token.text in ("==", "!=", "<", "<=", ">", ">="):
            self.take()
            return token.text
        for words in (("not", "in"), ("is", "not"), ("in",), ("is",)):
            if all(self.keyword(word, ahead) for ahead, word in enumerate(words)):
                self.at += len(words)
                return " ".join(words)
        return None

    def sum(self) -> _Node:
        return self.arithmetic(("+", "-"), self.product)

    def product(self) -> _Node:
        return self.arithmetic(("*", "/"), self.unary)

    def arithmetic(self, ops: tuple[str, ...], operand: Callable[[], _Node]) -> _Node:
        node = operand()
        while self.op(*ops):
            token = self.take()
            node = _Binary(token.text, node, operand(), token.column)
        return node

    def unary(self) -> _Node:
        if not self.op("-", "+"):
            return self.postfix()
        token = self.take()
        return _Unary(token.text, self.nested(self.unary, token.column), token.column)

    def postfix(self) -> _Node:
        node = self.primary()
        while self.op(".", "[", "("):
            token = self.take()
            if token.text == "(":
                self.fail(token.column, "only len(), lower() and upper() can be called")
            if token.text == "[":
                node = _Index(node, self.nested(self.disjunction, token.column), token.column)
                self.expect("]", token)
                continue
            name = self.take()
            if name.kind != "name":
                self.fail(name.column, "expected a name after '.'")
            self.refuse_private(name)
            node = _Attribute(node, name.text, name.column)
        return node

    def primary(self) -> _Node:
        token = self.take()
        if token.kind in ("number", "string"):
            return _Literal(token.value, token.column)
        if token.kind == "name" and token.text in _LITERALS:
            return _Literal(_LITERALS[token.text], token.column)
        if token.kind == "name" and token.text not in _KEYWORDS:
            self.refuse_private(token)
            return self.call(token) if self.op("(") else _Name(token.text, token.column)
        if token.kind == "op" and token.text == "(":
            node = self.nested(self.disjunction, token.column)
            self.expect(")", token)
            return node
        if token.kind == "op" and token.text == "[":
            return self.sequence(token)
        self.unexpected(token)

    def call(self, name: _Token) -> _Node:
        if name.text not in FUNCTIONS:
            self.fail(name.column, f"unknown function {name.text!r}: use len(), lower() or upper()")
        opened = self.take()
        if self.op(")"):
            self.fail(self.peek().column, f"{name.text}() takes one argument")
        argument = self.nested(self.disjunction, name.column)
        if self.op(","):
            self.fail(self.peek().column, f"{name.text}() takes one argument")
        self.expect(")", opened)
        return _Call(name.text, argument, name.column)

    def sequence(self, opened: _Token) -> _Node:
        items: list[_Node] = []
        while not self.op("]"):
            items.append(self.nested(self.disjunction, opened.column))
            if not self.op(","):
                break
            self.take()
        self.expect("]", opened)
        return _List(tuple(items), opened.column)

    def refuse_private(self, name: _Token) -> None:
        if name.text.startswith("_"):
            self.fail(name.column, f"{name.text!r} is not allowed: names starting with '_' are private")


def _check_depth(source: str, tree: _Node) -> None:
    """Refuse trees deeper than MAX_DEPTH (long `a + b + c …` chains), so evaluation never runs out of stack."""
    stack = [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise ExpressionError(source, node.column, f"nested more than {MAX_DEPTH} levels deep")
        stack.extend((child, depth + 1) for child in _children(node))


# --- evaluating ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Expression:
    """A compiled condition: its source, the top-level names it reads, and the tree it evaluates.

    `names` are the slots (and `contact`) read; `references` lists every read with its 1-based column, in
    source order, so a checker can point at an unknown slot.
    """

    source: str
    names: frozenset[str]
    references: tuple[tuple[str, int], ...]
    _tree: _Node = field(repr=False, compare=False)

    def evaluate(self, names: Mapping[str, Any]) -> Any:
        """The expression's value over `names` (slots and `contact`); see the module docstring for the rules."""
        return self._value(self._tree, names)

    def holds(self, names: Mapping[str, Any]) -> bool:
        """Whether the expression is true over `names`, as a `branch` case reads it."""
        return self._truth(self.evaluate(names), self._tree.column)

    def _value(self, node: _Node, names: Mapping[str, Any]) -> Any:
        match node:
            case _Literal(value=value):
                return value
            case _Name(name=name):
                return names.get(name)
            case _Attribute(target=target, name=name):
                return _attribute(self._value(target, names), name)
            case _Index(target=target, index=index):
                return _item(self._value(target, names), self._value(index, names))
            case _Call(function=function, argument=argument):
                return _call(function, self._value(argument, names))
            case _Unary(op="not", operand=operand, column=column):
                return not self._truth(self._value(operand, names), column)
            case _Unary(op=op, operand=operand, column=column):
                value = self._value(operand, names)
                if not _is_number(value):
                    raise ExpressionError(self.source, column, f"{op!r} needs a number, not {_kind(value)}")
                try:
                    return -value if op == "-" else +value
                except ArithmeticError:  # the decimal module's signals, e.g. a signalling NaN
                    raise ExpressionError(self.source, column, f"{op!r} cannot be applied to {value!r}") from None
            case _Binary(op=op, left=left, right=right, column=column):
                return self._arithmetic(op, self._value(left, names), self._value(right, names), column)
            case _Logic(op=op, operands=operands, column=column):
                last: Any = None
                for operand in operands:
                    last = self._value(operand, names)
                    if self._truth(last, column) == (op == "or"):
                        break
                return last
            case _Compare(left=left, links=links):
                value = self._value(left, names)
                for op, right in links:
                    other = self._value(right, names)
                    if not _compare(op, value, other):
                        return False
                    value = other
                return True
            case _List(items=items):
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
        except TypeError:  # an unhashable value looked up in a set or mapping
            return False
    try:
        return bool(_COMPARISONS[op](left, right))
    except (TypeError, ValueError):
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
    if len(source) > MAX_LENGTH:
        raise ExpressionError(source, MAX_LENGTH + 1, f"longer than {MAX_LENGTH} characters")
    if not source.strip():
        raise ExpressionError(source, 1, "the expression is empty")
    tree = _Parser(source).parse()
    _check_depth(source, tree)
    references: list[tuple[str, int]] = []
    stack: list[_Node] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, _Name):
            references.append((node.name, node.column))
        stack.extend(_children(node))
    references.sort(key=lambda reference: reference[1])
    return Expression(source, frozenset(name for name, _ in references), tuple(references), tree)
