"""What a turn writes to the decision log, and what it remembers of a decision.

A rule's (or a journey send's) offer is decided in the turn: its record goes out with the
action, through the same outbox, to the `decisions` sink. A next-best-offer answer is
decided by the API, which sends it into the customer's stream as a `decision` event: the
turn remembers the offers it showed (so feedback and purchases are credited to it, and
`no_repeat_within` and the offers' caps see it once it was shown), counts it in the
outcome report (a control group's answer in the holdout arm) and passes its record on to
the log. Both happen in the turn so that a record is written once per decision, with the
state that remembers it, whatever is replayed.
"""

from __future__ import annotations

from datetime import UTC, datetime

from actors.model.action_record import ActionRecord
from actors.model.actions import Action, DecisionAction, action_id_for, idempotency_key
from actors.model.decision import NEXT_BEST_OFFER, DecisionRecord, DecisionSource
from actors.model.events import Decision
from actors.model.model_names import RECOMMENDER
from actors.model.state import CustomerState
from actors.outcomes.attribution import counter
from actors.turn.decide import Context, decision_record
from actors.turn.turn_scoring import Scored

LOG_RULE = "decision_log"
# Offers of one next-best-offer answer remembered for attribution (the log has them all).
REMEMBERED_PER_ANSWER = 5


def logged(record: DecisionRecord, trigger_id: str, now: float) -> DecisionAction:
    """The outbox entry that writes `record` to the decision log (once: its key is the
    decision's)."""
    key = idempotency_key(record.customer_id, LOG_RULE, record.decision_id)
    return DecisionAction(
        action_id=action_id_for(key),
        idempotency_key=key,
        customer_id=record.customer_id,
        rule_id=record.rule_id,
        campaign=record.campaign,
        trigger_event_id=trigger_id,
        trigger=record.source,
        event_time=datetime.fromtimestamp(record.at, UTC),
        created_at=datetime.fromtimestamp(now, UTC),
        decision=record,
    )


def rule_decision(
    action: Action,
    source: DecisionSource,
    scored: Scored,
    control: str | None,
    rules_version: str,
    catalog_version: int,
    now: float,
) -> DecisionAction | None:
    """The log entry of the offer a rule's action makes (None when it makes none): its
    decision id is the action's id, which feedback names."""
    offer_id = getattr(action, "offer_id", None)
    decided = scored.decided
    if offer_id is None or decided is None or decided.best is None:
        return None
    context = Context(
        decision_id=action.action_id,
        customer_id=action.customer_id,
        at=action.event_time.timestamp(),
        source=source,
        rule_id=action.rule_id,
        campaign=action.campaign,
        channel=action.channel,
        domain=decided.best.domain,
        model=RECOMMENDER,
        model_version=scored.versions.get(RECOMMENDER, ""),
        rules_version=rules_version,
        catalog_version=str(catalog_version),
    )
    record = decision_record(context, decided, scored.features or [], control)
    return logged(record, action.trigger_event_id, now)


def remember_answer(
    state: CustomerState, event: Decision, now: float
) -> tuple[DecisionAction, list[str]]:
    """A next-best-offer answer in the customer's turn: the offers it showed remembered
    for attribution, `sent` counted (held out for a control group), its record logged."""
    record = event.decision
    counters = []
    # The first few: a long answer would push the rules' actions out of the state.
    for offer_id in record.chosen[:REMEMBERED_PER_ANSWER]:
        remembered = ActionRecord(
            action_id=record.decision_id,
            offer_id=offer_id,
            rule_id=NEXT_BEST_OFFER,
            campaign=record.campaign or "",
            model_version=record.model_version,
            at=event.ts,
            held_out=record.control is not None,
            control=record.control or "",
        )
        state.remember_action(remembered)
        counters.append(counter("sent", remembered))
    return logged(record, event.event_id, now), counters
