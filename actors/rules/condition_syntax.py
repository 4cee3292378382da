"""The syntax of rule conditions (actors.rules.conditions): tokens, and a recursive-descent
parser from source text to a tree of tuples. Errors name the position in the source."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from actors.errors import ConditionSyntaxError

Node = tuple[Any, ...]

_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<number>\d+(?:\.\d*)?(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)
  | (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
  | (?P<op>==|!=|<=|>=|<|>|\+|-|\*|/|%|\(|\)|\[|\]|,|\.)
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
    """,
    re.VERBOSE,
)
_KEYWORDS = {"and", "or", "not", "in", "true", "false", "null"}


# How many arguments each function takes (fewest, most; None: no upper bound), checked
# when a rule is loaded: a wrong count is a rule's fault, refused with the rule, never a
# TypeError on every event of its trigger.
ARITY: dict[str, tuple[int, int | None]] = {
    "len": (1, 1),
    "min": (2, None),
    "max": (2, None),
    "abs": (1, 1),
    "has": (1, 1),
}


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str
    text: str
    pos: int


def _tokenize(source: str) -> list[_Token]:
    tokens: list[_Token] = []
    pos = 0
    while pos < len(source):
        match = _TOKEN.match(source, pos)
        if match is None:
            raise ConditionSyntaxError(source, pos, f"unexpected character {source[pos]!r}")
        kind = match.lastgroup or ""
        text = match.group()
        if kind != "ws":
            if kind == "name" and text in _KEYWORDS:
                kind = text
            tokens.append(_Token(kind, text, pos))
        pos = match.end()
    tokens.append(_Token("end", "", len(source)))
    return tokens


class _Parser:
    def __init__(self, source: str) -> None:
        self.source = source
        self.tokens = _tokenize(source)
        self.i = 0

    def _peek(self) -> _Token:
        return self.tokens[self.i]

    def _next(self) -> _Token:
        token = self.tokens[self.i]
        self.i += 1
        return token

    def _accept(self, *texts: str) -> _Token | None:
        token = self._peek()
        if token.text in texts and token.kind not in ("string", "end"):
            self.i += 1
            return token
        return None

    def _expect(self, text: str) -> None:
        if self._accept(text) is None:
            token = self._peek()
            raise ConditionSyntaxError(
                self.source, token.pos, f"expected {text!r}, found {token.text or 'end'!r}"
            )

    def parse(self) -> Node:
        node = self._or()
        token = self._peek()
        if token.kind != "end":
            raise ConditionSyntaxError(self.source, token.pos, f"unexpected {token.text!r}")
        return node

    def _or(self) -> Node:
        node = self._and()
        while self._accept("or"):
            node = ("or", node, self._and())
        return node

    def _and(self) -> Node:
        node = self._not()
        while self._accept("and"):
            node = ("and", node, self._not())
        return node

    def _not(self) -> Node:
        if self._accept("not"):
            return ("not", self._not())
        return self._comparison()

    def _comparison(self) -> Node:
        left = self._sum()
        token = self._peek()
        if token.kind == "op" and token.text in ("==", "!=", "<", "<=", ">", ">="):
            self.i += 1
            return ("cmp", token.text, left, self._sum())
        if token.kind == "in":
            self.i += 1
            return ("in", left, self._sum())
        if token.kind == "not" and self.tokens[self.i + 1].kind == "in":
            self.i += 2
            return ("not", ("in", left, self._sum()))
        return left

    def _sum(self) -> Node:
        node = self._term()
        while (token := self._accept("+", "-")) is not None:
            node = ("arith", token.text, node, self._term())
        return node

    def _term(self) -> Node:
        node = self._unary()
        while (token := self._accept("*", "/", "%")) is not None:
            node = ("arith", token.text, node, self._unary())
        return node

    def _unary(self) -> Node:
        if self._accept("-"):
            return ("neg", self._unary())
        return self._atom()

    def _atom(self) -> Node:
        token = self._next()
        if token.kind == "number":
            number = float(token.text)
            return (
                "const",
                int(number) if number.is_integer() and "." not in token.text else number,
            )
        if token.kind == "string":
            return ("const", _unquote(token.text))
        if token.kind in ("true", "false", "null"):
            return ("const", {"true": True, "false": False, "null": None}[token.kind])
        if token.text == "(" and token.kind == "op":
            node = self._or()
            self._expect(")")
            return node
        if token.text == "[" and token.kind == "op":
            items: list[Node] = []
            if not self._accept("]"):
                items.append(self._or())
                while self._accept(","):
                    items.append(self._or())
                self._expect("]")
            return ("list", tuple(items))
        if token.kind == "name":
            if self._peek().text == "(" and self._peek().kind == "op":
                if token.text not in ARITY:
                    raise ConditionSyntaxError(
                        self.source, token.pos, f"unknown function {token.text!r}"
                    )
                self.i += 1
                args: list[Node] = []
                if not self._accept(")"):
                    args.append(self._or())
                    while self._accept(","):
                        args.append(self._or())
                    self._expect(")")
                fewest, most = ARITY[token.text]
                if len(args) < fewest or (most is not None and len(args) > most):
                    wanted = f"{fewest}" if most == fewest else f"at least {fewest}"
                    raise ConditionSyntaxError(
                        self.source,
                        token.pos,
                        f"{token.text}() takes {wanted} argument(s), {len(args)} given",
                    )
                return ("call", token.text, tuple(args))
            return self._path(token)
        raise ConditionSyntaxError(self.source, token.pos, f"unexpected {token.text or 'end'!r}")

    def _path(self, first: _Token) -> Node:
        parts: list[Any] = [first.text]
        while True:
            if self._accept("."):
                token = self._next()
                if token.kind not in ("name", "true", "false", "null", "in", "and", "or", "not"):
                    raise ConditionSyntaxError(self.source, token.pos, "expected a field name")
                parts.append(token.text)
            elif self._peek().text == "[" and self._peek().kind == "op":
                self.i += 1
                parts.append(self._or())
                self._expect("]")
            else:
                return ("path", tuple(parts))


def _unquote(text: str) -> str:
    body = text[1:-1]
    return re.sub(r"\\(.)", r"\1", body)


def parse(source: str) -> Node:
    return _Parser(source).parse()
