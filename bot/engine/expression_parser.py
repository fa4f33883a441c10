"""The small language of `branch` conditions read into a tree: tokens, then recursive descent, by hand.

The grammar (flows/README.md, "Expressions"), loosest binding first::

    or / and / not  >  comparisons (== != < <= > >= in, not in, is none, is not none; a < b < c chains)
                    >  + -  >  * /  >  unary - +  >  x.name  x[index]  len() lower() upper()
    literals: "text" 'text' 12 3.5 true false none (True False None too) [a, b]

Names starting with `_` are refused here, so `__class__` and friends cannot even be written. Sources are
capped at 500 characters and 20 levels of nesting. `bot.engine.expression` evaluates the tree.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, NoReturn

from bot.errors import ValidationError

MAX_LENGTH = 500
MAX_DEPTH = 20  # parentheses and operators; each level costs ~14 Python frames when parsing
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


# --- the tree ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Literal:
    value: Any
    column: int


@dataclass(frozen=True, slots=True)
class Name:
    name: str
    column: int


@dataclass(frozen=True, slots=True)
class Attribute:
    target: Node
    name: str
    column: int


@dataclass(frozen=True, slots=True)
class Index:
    target: Node
    index: Node
    column: int


@dataclass(frozen=True, slots=True)
class Call:
    function: str
    argument: Node
    column: int


@dataclass(frozen=True, slots=True)
class Unary:
    op: str  # "-", "+" or "not"
    operand: Node
    column: int


@dataclass(frozen=True, slots=True)
class Binary:
    op: str  # "+", "-", "*" or "/"
    left: Node
    right: Node
    column: int


@dataclass(frozen=True, slots=True)
class Logic:
    op: str  # "and" or "or"
    operands: tuple[Node, ...]
    column: int


@dataclass(frozen=True, slots=True)
class Compare:
    left: Node
    links: tuple[tuple[str, Node], ...]  # a < b <= c: (("<", b), ("<=", c))
    column: int


@dataclass(frozen=True, slots=True)
class List:
    items: tuple[Node, ...]
    column: int


Node = Literal | Name | Attribute | Index | Call | Unary | Binary | Logic | Compare | List


def children(node: Node) -> tuple[Node, ...]:
    match node:
        case Attribute(target=target) | Call(argument=target) | Unary(operand=target):
            return (target,)
        case Index(target=target, index=index):
            return (target, index)
        case Binary(left=left, right=right):
            return (left, right)
        case Logic(operands=items) | List(items=items):
            return items
        case Compare(left=left, links=links):
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

    def parse(self) -> Node:
        node = self.nested(self.disjunction, 1)
        if self.peek().kind != "end":
            self.unexpected(self.peek())
        return node

    def nested(self, parse: Callable[[], Node], column: int) -> Node:
        """Parse one level deeper (parentheses, brackets, calls, unary operators), opened at `column`."""
        self.nesting += 1
        if self.nesting > MAX_DEPTH:
            self.fail(column, f"nested more than {MAX_DEPTH} levels deep")
        node = parse()
        self.nesting -= 1
        return node

    def disjunction(self) -> Node:
        return self.logic("or", self.conjunction)

    def conjunction(self) -> Node:
        return self.logic("and", self.negation)

    def logic(self, word: str, operand: Callable[[], Node]) -> Node:
        column, operands = self.peek().column, [operand()]
        while self.keyword(word):
            self.take()
            operands.append(operand())
        return operands[0] if len(operands) == 1 else Logic(word, tuple(operands), column)

    def negation(self) -> Node:
        if not self.keyword("not"):
            return self.comparison()
        column = self.take().column
        return Unary("not", self.nested(self.negation, column), column)

    def comparison(self) -> Node:
        column, left = self.peek().column, self.sum()
        links: list[tuple[str, Node]] = []
        while op := self.comparison_op():
            if op.startswith("is"):
                token = self.take()
                if not (token.kind == "name" and token.text in ("none", "None")):
                    self.fail(token.column, "'is' only compares with none: use == to compare values")
                links.append((op, Literal(None, token.column)))
            else:
                links.append((op, self.sum()))
        return Compare(left, tuple(links), column) if links else left

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

    def sum(self) -> Node:
        return self.arithmetic(("+", "-"), self.product)

    def product(self) -> Node:
        return self.arithmetic(("*", "/"), self.unary)

    def arithmetic(self, ops: tuple[str, ...], operand: Callable[[], Node]) -> Node:
        node = operand()
        while self.op(*ops):
            token = self.take()
            node = Binary(token.text, node, operand(), token.column)
        return node

    def unary(self) -> Node:
        if not self.op("-", "+"):
            return self.postfix()
        token = self.take()
        return Unary(token.text, self.nested(self.unary, token.column), token.column)

    def postfix(self) -> Node:
        node = self.primary()
        while self.op(".", "[", "("):
            token = self.take()
            if token.text == "(":
                self.fail(token.column, "only len(), lower() and upper() can be called")
            if token.text == "[":
                node = Index(node, self.nested(self.disjunction, token.column), token.column)
                self.expect("]", token)
                continue
            name = self.take()
            if name.kind != "name":
                self.fail(name.column, "expected a name after '.'")
            self.refuse_private(name)
            node = Attribute(node, name.text, name.column)
        return node

    def primary(self) -> Node:
        token = self.take()
        if token.kind in ("number", "string"):
            return Literal(token.value, token.column)
        if token.kind == "name" and token.text in _LITERALS:
            return Literal(_LITERALS[token.text], token.column)
        if token.kind == "name" and token.text not in _KEYWORDS:
            self.refuse_private(token)
            return self.call(token) if self.op("(") else Name(token.text, token.column)
        if token.kind == "op" and token.text == "(":
            node = self.nested(self.disjunction, token.column)
            self.expect(")", token)
            return node
        if token.kind == "op" and token.text == "[":
            return self.sequence(token)
        self.unexpected(token)

    def call(self, name: _Token) -> Node:
        if name.text not in FUNCTIONS:
            self.fail(name.column, f"unknown function {name.text!r}: use len(), lower() or upper()")
        opened = self.take()
        if self.op(")"):
            self.fail(self.peek().column, f"{name.text}() takes one argument")
        argument = self.nested(self.disjunction, name.column)
        if self.op(","):
            self.fail(self.peek().column, f"{name.text}() takes one argument")
        self.expect(")", opened)
        return Call(name.text, argument, name.column)

    def sequence(self, opened: _Token) -> Node:
        items: list[Node] = []
        while not self.op("]"):
            items.append(self.nested(self.disjunction, opened.column))
            if not self.op(","):
                break
            self.take()
        self.expect("]", opened)
        return List(tuple(items), opened.column)

    def refuse_private(self, name: _Token) -> None:
        if name.text.startswith("_"):
            self.fail(name.column, f"{name.text!r} is not allowed: names starting with '_' are private")


def check_depth(source: str, tree: Node) -> None:
    """Refuse trees deeper than MAX_DEPTH (long `a + b + c …` chains), so evaluation never runs out of stack."""
    stack = [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise ExpressionError(source, node.column, f"nested more than {MAX_DEPTH} levels deep")
        stack.extend((child, depth + 1) for child in children(node))


def parse(source: str) -> Node:
    """The tree of `source`, or `ExpressionError` (a `ValidationError`) with the column of the problem."""
    if len(source) > MAX_LENGTH:
        raise ExpressionError(source, MAX_LENGTH + 1, f"longer than {MAX_LENGTH} characters")
    if not source.strip():
        raise ExpressionError(source, 1, "the expression is empty")
    tree = _Parser(source).parse()
    check_depth(source, tree)
    return tree
