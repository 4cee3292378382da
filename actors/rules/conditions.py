"""A small, safe condition language for rules.

    session.category_views >= 3 and scores.offer_p > 0.2
    payment.new_country == 1 or event.amount > 5 * customer.usual_amount
    event.category in ["electronics", "home"] and not customer.marketing_suppressed

Expressions are parsed once, when the rules file loads, into a tree of tuples that is
compiled into nested closures and evaluated against plain dicts. Nothing is ever passed
to `eval`, no attribute of a Python object is reachable, and the only functions are the
few listed in `FUNCTIONS`. A missing field evaluates to null, and any comparison with
null is false, so a rule about a field an event does not carry simply does not fire.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from actors.rules.condition_syntax import Node, parse


class _Unknown:
    """A value not computed yet (model scores before scoring). Propagates like SQL NULL
    in three-valued logic: `False and UNKNOWN` is False, `True and UNKNOWN` is UNKNOWN."""

    _instance: _Unknown | None = None

    def __new__(cls) -> _Unknown:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNKNOWN"


UNKNOWN: Any = _Unknown()


def _safe_len(value: Any) -> Any:
    return len(value) if isinstance(value, str | list | tuple | dict) else None


def _numeric(fn: Callable[..., Any]) -> Callable[..., Any]:
    def wrapped(*args: Any) -> Any:
        if any(not isinstance(a, int | float) or isinstance(a, bool) for a in args):
            return None
        return fn(*args)

    return wrapped


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "len": _safe_len,
    "min": _numeric(min),
    "max": _numeric(max),
    "abs": _numeric(abs),
    "has": lambda value: value is not None,
}


@dataclass(frozen=True, slots=True)
class Condition:
    """A parsed condition. `paths` lets rule validation check every field it reads."""

    source: str
    tree: Node
    run: Compiled

    def evaluate(self, context: Mapping[str, Any]) -> bool:
        value = self.run(context)
        return False if value is UNKNOWN else _truthy(value)

    def evaluate_partial(self, context: Mapping[str, Any]) -> bool | None:
        """True, False, or None when the answer depends on a root set to `UNKNOWN`.

        Lets the actor skip scoring when a rule is already false on what it knows.
        """
        value = self.run(context)
        return None if value is UNKNOWN else _truthy(value)

    @property
    def paths(self) -> list[tuple[str, ...]]:
        """Every constant dotted path the condition reads, e.g. ("scores", "fraud")."""
        found: list[tuple[str, ...]] = []
        _collect_paths(self.tree, found)
        return found


def parse_condition(source: str) -> Condition:
    tree = parse(source)
    return Condition(source, tree, _compile(tree))


def _collect_paths(node: Node, found: list[tuple[str, ...]]) -> None:
    kind = node[0]
    if kind == "path":
        prefix: list[str] = []
        for part in node[1]:
            if isinstance(part, str):
                prefix.append(part)
            else:
                _collect_paths(part, found)
                break
        found.append(tuple(prefix))
    elif kind in ("or", "and", "in"):
        _collect_paths(node[1], found)
        _collect_paths(node[2], found)
    elif kind in ("cmp", "arith"):
        _collect_paths(node[2], found)
        _collect_paths(node[3], found)
    elif kind in ("not", "neg"):
        _collect_paths(node[1], found)
    elif kind == "list":
        for item in node[1]:
            _collect_paths(item, found)
    elif kind == "call":
        for arg in node[2]:
            _collect_paths(arg, found)


def resolve_path(context: Mapping[str, Any], parts: tuple[Any, ...]) -> Any:
    """Follow a path through dicts and lists only; anything missing is None."""
    value: Any = context
    for part in parts:
        if value is UNKNOWN:
            return UNKNOWN
        if type(value) is dict or isinstance(value, Mapping):
            value = value.get(part) if isinstance(part, str) else None
        elif (
            isinstance(value, list | tuple) and isinstance(part, int) and not isinstance(part, bool)
        ):
            value = value[part] if -len(value) <= part < len(value) else None
        else:
            return None
        if value is None:
            return None
    return value


def _truthy(value: Any) -> bool:
    return bool(value) if value is not None else False


_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "==": lambda a, b: bool(a == b),
    "!=": lambda a, b: bool(a != b),
    "<": lambda a, b: bool(a < b),
    "<=": lambda a, b: bool(a <= b),
    ">": lambda a, b: bool(a > b),
    ">=": lambda a, b: bool(a >= b),
}


Compiled = Callable[[Mapping[str, Any]], Any]


def _compile(node: Node) -> Compiled:
    """Turn a tree into nested closures: parsed once, evaluated per turn without walking."""
    kind = node[0]
    if kind == "const":
        value = node[1]
        return lambda context: value
    if kind == "path":
        return _compile_path(node[1])
    if kind in ("and", "or"):
        left, right = _compile(node[1]), _compile(node[2])
        # Short-circuit on a decisive side, whichever side it is.
        decisive = kind == "or"

        def junction(context: Mapping[str, Any]) -> Any:
            a = left(context)
            if a is not UNKNOWN and _truthy(a) is decisive:
                return decisive
            b = right(context)
            if b is not UNKNOWN and _truthy(b) is decisive:
                return decisive
            return UNKNOWN if (a is UNKNOWN or b is UNKNOWN) else not decisive

        return junction
    if kind == "not":
        inner = _compile(node[1])

        def negation(context: Mapping[str, Any]) -> Any:
            value = inner(context)
            return UNKNOWN if value is UNKNOWN else not _truthy(value)

        return negation
    if kind == "list":
        items = [_compile(item) for item in node[1]]

        def listing(context: Mapping[str, Any]) -> Any:
            values = [item(context) for item in items]
            return UNKNOWN if any(v is UNKNOWN for v in values) else values

        return listing
    if kind == "call":
        function = FUNCTIONS[node[1]]
        args = [_compile(arg) for arg in node[2]]

        def call(context: Mapping[str, Any]) -> Any:
            values = [arg(context) for arg in args]
            return UNKNOWN if any(v is UNKNOWN for v in values) else function(*values)

        return call
    if kind == "neg":
        inner = _compile(node[1])

        def negative(context: Mapping[str, Any]) -> Any:
            value = inner(context)
            if value is UNKNOWN:
                return UNKNOWN
            return -value if _is_number(value) else None

        return negative
    if kind == "in":
        needle_of, haystack_of = _compile(node[1]), _compile(node[2])

        def membership(context: Mapping[str, Any]) -> Any:
            needle, haystack = needle_of(context), haystack_of(context)
            if needle is UNKNOWN or haystack is UNKNOWN:
                return UNKNOWN
            if isinstance(haystack, str):
                return isinstance(needle, str) and needle in haystack
            if isinstance(haystack, list | tuple | dict):
                return needle in haystack
            return False

        return membership
    if kind == "cmp":
        return _compile_compare(node[1], _compile(node[2]), _compile(node[3]))
    if kind == "arith":
        op = node[1]
        left_of, right_of = _compile(node[2]), _compile(node[3])

        def arithmetic(context: Mapping[str, Any]) -> Any:
            a = left_of(context)
            if a is UNKNOWN:
                return UNKNOWN
            b = right_of(context)
            if b is UNKNOWN:
                return UNKNOWN
            return _arith(op, a, b)

        return arithmetic
    raise AssertionError(f"unknown node {kind}")


def _compile_path(parts: tuple[Any, ...]) -> Compiled:
    if all(isinstance(p, str) for p in parts):
        # The common shapes, `root` and `root.field`, without the general walk: rules
        # read a few of these per turn and they dominate a turn's rule time.
        if len(parts) == 1:
            (root,) = parts
            return lambda context: context.get(root)
        if len(parts) == 2:
            root, name = parts

            def field(context: Mapping[str, Any]) -> Any:
                value = context.get(root)
                if value is None or value is UNKNOWN:
                    return value
                if type(value) is dict or isinstance(value, Mapping):
                    return value.get(name)
                return None

            return field
        fixed = parts
        return lambda context: resolve_path(context, fixed)
    getters = [p if isinstance(p, str) else _compile(p) for p in parts]

    def dynamic(context: Mapping[str, Any]) -> Any:
        resolved = tuple(g if isinstance(g, str) else g(context) for g in getters)
        if any(p is UNKNOWN for p in resolved):
            return UNKNOWN
        return resolve_path(context, resolved)

    return dynamic


def _compile_compare(op: str, left_of: Compiled, right_of: Compiled) -> Compiled:
    compare = _COMPARE[op]
    ordering = op not in ("==", "!=")

    def comparison(context: Mapping[str, Any]) -> Any:
        a = left_of(context)
        if a is UNKNOWN:
            return UNKNOWN
        b = right_of(context)
        if b is UNKNOWN:
            return UNKNOWN
        if ordering and (a is None or b is None):
            return False
        try:
            return compare(a, b)
        except TypeError:
            return False

    return comparison


def _arith(op: str, left: Any, right: Any) -> Any:
    if not _is_number(left) or not _is_number(right):
        return None
    if op in ("/", "%") and right == 0:
        return None
    if op == "+":
        return left + right
    if op == "-":
        return left - right
    if op == "*":
        return left * right
    if op == "/":
        return left / right
    return left % right


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
