"""The condition language: expressive enough for rules, unable to run code."""

from __future__ import annotations

import re
from typing import Any

import pytest

from actors.errors import ConditionSyntaxError
from actors.rules.condition_syntax import ARITY
from actors.rules.conditions import FUNCTIONS, UNKNOWN, parse_condition

CONTEXT: dict[str, Any] = {
    "event": {"type": "product_view", "category": "electronics", "amount": 120.0},
    "session": {"category_views": 3, "categories": {"electronics": 3, "home": 1}},
    "customer": {"consent_marketing": True, "usual_amount": 40.0, "tags": ["vip"]},
}


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("session.category_views >= 3", True),
        ("session.category_views > 3", False),
        ("event.category == 'electronics' and customer.consent_marketing", True),
        ("event.category in ['home', 'books']", False),
        ("event.category not in ['home', 'books']", True),
        ("'vip' in customer.tags", True),
        ("session.categories['home'] == 1", True),
        ("session.categories[event.category] >= 3", True),
        ("event.amount > 2 * customer.usual_amount", True),
        ("event.amount - customer.usual_amount == 80", True),
        ("not (event.amount < 100) or false", True),
        ("len(session.categories) == 2 and max(1, 2) == 2 and abs(-3) == 3", True),
        ("has(event.amount) and not has(event.missing)", True),
        ("-event.amount < 0", True),
        ("1e2 == 100.0", True),
    ],
)
def test_conditions_evaluate_against_the_turn_context(source: str, expected: bool) -> None:
    assert parse_condition(source).evaluate(CONTEXT) is expected


@pytest.mark.parametrize(
    "source",
    [
        "event.missing > 3",
        "event.missing < 3",
        "event.category > 3",  # comparing a string with a number is simply false
        "event.amount / 0 > 1",
        "nothing.here == 1",
    ],
)
def test_missing_or_mistyped_values_make_a_condition_false_not_an_error(source: str) -> None:
    assert parse_condition(source).evaluate(CONTEXT) is False


@pytest.mark.parametrize(
    ("source", "reason"),
    [
        ("__import__('os').system('true')", "unknown function"),
        ("event.category ==", "unexpected 'end'"),
        ("(event.amount > 1", "expected ')'"),
        ("open('/etc/passwd')", "unknown function"),
        ("event.amount > 1; drop", "unexpected character"),
        # a function called with the wrong number of arguments is refused at load, not
        # raised on every event of the rule's trigger
        ("len(customer.traits, 2) > 0", "len() takes 1 argument(s), 2 given"),
        ("abs() > 0", "abs() takes 1 argument(s), 0 given"),
        ("min(event.amount) > 1", "min() takes at least 2 argument(s), 1 given"),
    ],
)
def test_anything_but_the_language_is_a_syntax_error(source: str, reason: str) -> None:
    with pytest.raises(ConditionSyntaxError, match=re.escape(reason)):
        parse_condition(source)


def test_dunder_names_cannot_reach_python_attributes() -> None:
    condition = parse_condition("event.__dict__ == null")
    assert condition.evaluate(CONTEXT) is True  # a dict key that does not exist, nothing more


def test_partial_evaluation_decides_without_unknown_scores_when_it_can() -> None:
    condition = parse_condition("session.category_views >= 5 and scores.offer_p > 0.2")
    assert condition.evaluate_partial({**CONTEXT, "scores": UNKNOWN}) is False
    condition = parse_condition("session.category_views >= 3 and scores.offer_p > 0.2")
    assert condition.evaluate_partial({**CONTEXT, "scores": UNKNOWN}) is None
    condition = parse_condition("session.category_views >= 3 or scores.offer_p > 0.2")
    assert condition.evaluate_partial({**CONTEXT, "scores": UNKNOWN}) is True


def test_paths_lists_every_field_read() -> None:
    condition = parse_condition("a.b > 1 and c['x'] == d.e.f")
    assert condition.paths == [("a", "b"), ("c",), ("d", "e", "f")]


def test_every_function_has_its_argument_count_checked_at_load() -> None:
    assert set(FUNCTIONS) == set(ARITY)
