"""Fraud scores for a whole batch in one request, before its turns run.

A customer's turns run one at a time, and a turn that must score waits for the model
server before the next turn may start: a customer with five scored events in a batch
would pay five round trips in a row. Instead the shard first replays the batch's events
on a copy of each customer's state, builds every feature row the rules of each event's
trigger could need, and scores all rows of the batch in one request per model. The turns
then run as always, strictly in order, and a turn takes a prefetched score only if the row
it builds equals the row that was scored.

A customer with one scored event in the batch needs no replay: its turn asks for its row
itself, and the shard's `CoalescingScorer` carries that row in the same request as every
other first row of the batch and the prefetched ones (the host starts the prefetch and
those turns in one event-loop tick). So only customers with two or more events whose
triggers score are copied and replayed (`needs_replay`): they are the ones whose later
rows would otherwise wait for an earlier turn's round trip.

Rows cannot differ today: payment features read only what events change
(actors.model.features), never what rules do (fired rules, alerts, remembered actions), so
what an earlier turn's actions do cannot change a later row. The comparison keeps that
true by construction: if a feature ever reads a rule's effect, the turn scores its row
again (`rescored`). The recommender is not scored ahead: its request names the offers
the customer may be made, which the earlier turns' actions do change (caps, the
no-repeat window), so each turn asks for its own, coalesced with the batch's others.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from actors.model.dedup import Arrival, Seen
from actors.model.events import Event
from actors.model.model_names import FRAUD
from actors.model.state import CustomerState
from actors.rules.context import Before
from actors.rules.ruleset import RuleSet
from actors.turn.scoring import Score, Scorer


@dataclass(frozen=True, slots=True)
class CustomerEvents:
    """One customer's events of a batch, in order, with where each was read."""

    customer_id: str
    state: CustomerState
    events: Sequence[tuple[Event, Arrival]]


@dataclass
class BatchScores:
    """Scores computed ahead, by (customer, event id, model), with the row scored."""

    scores: dict[tuple[str, str, str], tuple[Sequence[float], Score]] = field(default_factory=dict)
    taken: int = 0
    rescored: int = 0

    def take(
        self, customer_id: str, event_id: str, model: str, row: Sequence[float]
    ) -> Score | None:
        """The score of `row` if it was prefetched for this turn; None: score it now."""
        found = self.scores.get((customer_id, event_id, model))
        if found is None:
            return None
        scored_row, score = found
        if list(scored_row) != list(row):
            self.rescored += 1
            return None
        self.taken += 1
        return score


NO_SCORES = BatchScores()


class Planner(Protocol):
    """What prefetching asks of the customer actor (actors.turn.actor.CustomerActor)."""

    scorer: Scorer
    rules: RuleSet

    def before(self, state: CustomerState, event: Event) -> Before: ...

    def models_wanted(
        self, customer_id: str, state: CustomerState, event: Event, before: Before
    ) -> set[str]: ...


def scored_positions(rules: RuleSet, item: CustomerEvents) -> list[int]:
    """Where in the customer's events of the batch are those whose trigger's rules read
    the fraud score."""
    return [i for i, (event, _) in enumerate(item.events) if FRAUD in rules.models_for(event.type)]


def needs_replay(rules: RuleSet, item: CustomerEvents) -> bool:
    """Whether this customer's rows are scored ahead: two or more of its events have a
    trigger whose rules score (one such event is scored by its own turn, coalesced)."""
    return len(scored_positions(rules, item)) >= 2


async def prefetch(actor: Planner, batch: Sequence[CustomerEvents]) -> BatchScores:
    """Score every fraud row the batch's turns will ask for, in one request.

    Which models a turn will want is judged on the copy: the rules of its trigger that
    pass the state-only checks. The copy lacks what earlier turns of the batch decide
    (rules fired, alerts), which only ever rule more out; a turn that wants a row anyway
    scores it itself."""
    keys: list[tuple[str, str, str]] = []
    rows: list[Sequence[float]] = []
    for item in batch:
        scored = scored_positions(actor.rules, item)
        if not scored:
            continue  # no rule of these triggers scores: nothing to copy or replay
        shadow = item.state.clone()
        try:
            # Events after the last one that scores change no row: not replayed.
            for event, arrival in item.events[: scored[-1] + 1]:
                if shadow.seen(event, arrival) is not Seen.NEW:
                    continue
                before = actor.before(shadow, event)
                shadow.apply(event, arrival)
                needed = actor.models_wanted(item.customer_id, shadow, event, before)
                if FRAUD in needed and before.payment is not None:
                    keys.append((item.customer_id, event.event_id, FRAUD))
                    rows.append(before.payment)
        except Exception:
            # The rows up to here stand; later turns of this customer score on their own.
            continue
    out = BatchScores()
    if not rows:
        return out
    # As a task: its rows join the scorer's queue in the same loop iteration as the first
    # rows of the turns the host starts beside it, so they travel in one request.
    scores = await asyncio.ensure_future(actor.scorer.score(FRAUD, rows))
    for key, row, score in zip(keys, rows, scores, strict=True):
        out.scores[key] = (row, score)
    return out
