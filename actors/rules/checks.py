"""What rules, reminders, segments and journeys may read, and the checks that hold them
to it: every condition parsed and every field it reads known when a file compiles, so a
misspelt field is a refusal naming it, never a rule that silently never fires."""

from __future__ import annotations

from collections.abc import Sequence

from actors.errors import ConditionSyntaxError, RuleError
from actors.model.events import EVENT_MODELS
from actors.model.features import CUSTOMER_FEATURES, PAYMENT_FEATURES
from actors.model.model_names import FRAUD, OFFER_SCORES, RECOMMENDER, WINBACK, is_own_model
from actors.rules.conditions import Condition, parse_condition
from actors.rules.context import CustomerView, SessionView
from actors.rules.segments import Segment
from actors.rules.specs import ActionSpec

REMINDER_PREFIX = "reminder:"

# What a condition or template may read, root by root (None: any key).
CONTEXT_FIELDS: dict[str, frozenset[str] | None] = {
    "event": None,
    # What the turn's views compute is what a rule may read: named once, in the views.
    "customer": frozenset(CustomerView.FIELDS),
    "session": frozenset(SessionView.FIELDS),
    "cart": frozenset({"items", "value", "partial", "products"}),
    "features": frozenset(CUSTOMER_FEATURES),
    "payment": frozenset(PAYMENT_FEATURES),
    # Beside these, `scores.<name>` of a team's own model: accepted here when the name is
    # well formed, refused at load unless the registry knows it (ruleset.unknown_models).
    "scores": frozenset({FRAUD, WINBACK}) | OFFER_SCORES,
    "offer": frozenset({"offer_id", "title", "p", "expected_value", "category"}),
    "reminder": frozenset({"kind", "due_at", "set_at"}),
    "rule": frozenset({"id", "campaign"}),
    # The audiences the file names (checked against its `segments` when it compiles).
    "segment": None,
}
# What a segment's condition may read: the customer's state, never one event or score,
# so that membership is a fact about the customer whatever turn it is taken at.
SEGMENT_ROOTS = frozenset({"customer", "session", "cart", "features"})
SEGMENT_NAME = r"^[a-z][a-z0-9_]*$"


def compile_condition(owner: str, field_name: str, source: str | None) -> Condition | None:
    if source is None:
        return None
    try:
        condition = parse_condition(source)
    except ConditionSyntaxError as error:
        raise RuleError(owner, field_name, f"at {error.position}: {error.reason}") from None
    for path in condition.paths:
        check_path(owner, field_name, path)
    return condition


def check_path(owner: str, field_name: str, path: tuple[str, ...]) -> None:
    root = path[0]
    if root not in CONTEXT_FIELDS:
        known = ", ".join(sorted(CONTEXT_FIELDS))
        raise RuleError(owner, field_name, f"unknown name {root!r} (known: {known})")
    allowed = CONTEXT_FIELDS[root]
    if root == "scores" and len(path) > 1 and is_own_model(path[1]):
        return
    if allowed is not None and len(path) > 1 and path[1] not in allowed:
        raise RuleError(owner, field_name, f"{root} has no field {path[1]!r}")


def check_event_fields(
    owner: str, triggers: Sequence[str], paths: Sequence[tuple[str, ...]]
) -> None:
    """`event.<field>` must be a field of an event the rule is triggered by (`name` and
    `properties` for custom events): a misspelt field would read as missing at every turn
    and the rule silently never fire. Rules woken by reminders are left alone."""
    if any(t.startswith(REMINDER_PREFIX) for t in triggers):
        return
    fields = {name for t in triggers for name in EVENT_MODELS[t].model_fields}
    for path in paths:
        if path[0] == "event" and len(path) > 1 and path[1] not in fields:
            known = ", ".join(sorted(fields - {"schema_version"}))
            raise RuleError(
                owner,
                "when / action",
                f"event has no field {path[1]!r} for triggers {', '.join(triggers)} "
                f"(fields: {known})",
            )


def models_used(paths: list[tuple[str, ...]], action: ActionSpec) -> frozenset[str]:
    models: set[str] = set()
    for path in paths:
        if path[0] == "scores" and len(path) > 1:
            models.add(RECOMMENDER if path[1] in OFFER_SCORES else path[1])
        if path[0] == "offer":
            models.add(RECOMMENDER)
    if action.type in ("offer", "welcome_back"):
        models.add(RECOMMENDER)
    return frozenset(models)


def compile_segment(name: str, source: str) -> Segment:
    owner = f"segment:{name}"
    try:
        condition = parse_condition(source)
    except ConditionSyntaxError as error:
        raise RuleError(owner, "condition", f"at {error.position}: {error.reason}") from None
    for path in condition.paths:
        if path[0] not in SEGMENT_ROOTS:
            known = ", ".join(sorted(SEGMENT_ROOTS))
            reason = f"a segment reads the customer's state ({known}), not {path[0]!r}"
            raise RuleError(owner, "condition", reason)
        check_path(owner, "condition", path)
    return Segment(name, condition)


def check_segments_used(
    owner: str, field_name: str, condition: Condition | None, names: frozenset[str]
) -> None:
    for path in condition.paths if condition else ():
        if path[0] == "segment" and (len(path) < 2 or path[1] not in names):
            known = ", ".join(sorted(names)) or "none defined"
            named = path[1] if len(path) > 1 else ""
            raise RuleError(owner, field_name, f"no segment named {named!r} (segments: {known})")
