"""Training rows for a model of one's own: its feature view at the moments it is asked,
labelled by an outcome of the team's choosing (`engage export --view`).

The rows are built by the replay training uses for the built-in models, so they are what
a live turn sends: the customer vector of the state once the triggering event is applied,
and for a card payment the payment against the history before it
(actors/model/feature_views.py). The label is 1 when the outcome (an event type such as
`purchase`, or `custom:NAME` for a custom event of that name) follows within the window,
0 once the window closed without it, and pending (null) while it is still open at the end
of the data: the same rule as `actors.model.labels.LabelSpec`.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence

from actors.errors import TrainingDataError
from actors.model.events import CardPayment, Custom, Event
from actors.model.feature_views import engine_row, positions
from actors.model.features import features, payment_features
from actors.model.labels import LabelSpec
from actors.model.state import CustomerState
from training.dataset import by_customer, last_event_time
from training.labelled_export import LabelledTable

CUSTOM_PREFIX = "custom:"


def outcome_matcher(outcome: str) -> str:
    """`outcome` checked: an event type, or `custom:NAME`."""
    from actors.model.events import EVENT_TYPES

    if outcome.startswith(CUSTOM_PREFIX) and len(outcome) > len(CUSTOM_PREFIX):
        return outcome
    if outcome in EVENT_TYPES:
        return outcome
    raise TrainingDataError(
        f"outcome {outcome!r}: an event type ({', '.join(sorted(EVENT_TYPES))}) or custom:NAME"
    )


def _is_outcome(event: Event, outcome: str) -> bool:
    if outcome.startswith(CUSTOM_PREFIX):
        return isinstance(event, Custom) and event.name == outcome[len(CUSTOM_PREFIX) :]
    return event.type == outcome


def view_rows(
    events: Sequence[Event],
    columns: Sequence[str],
    asked_on: Sequence[str],
    outcome: str,
    window_s: float,
    as_of: float | None = None,
) -> LabelledTable:
    """One row per event of a type in `asked_on` (a payment view: per card payment among
    them, the only events it is asked on live): the view's columns and the label."""
    outcome = outcome_matcher(outcome)
    as_of = last_event_time(events) if as_of is None else as_of
    spec = LabelSpec("own", window_s, outcome)
    take = positions(columns)
    table: dict[str, list[object]] = {"customer_id": [], "time": [], "event_id": []}
    values: list[list[float]] = []
    labels: list[object] = []
    for customer_id, timeline in by_customer(events).items():
        # When the customer's outcomes happened, in order: the first at or after a moment.
        outcomes = [e.ts for e in timeline if _is_outcome(e, outcome)]
        state = CustomerState()
        for event in timeline:
            if state.has_applied(event):
                continue
            asked = event.type in asked_on
            payment = (
                payment_features(state, event) if asked and isinstance(event, CardPayment) else None
            )
            state.apply(event)
            if not asked:
                continue
            row = [engine_row(features(state, event.ts), payment)[i] for i in take]
            if any(math.isnan(v) for v in row):
                continue  # the payment's columns on an event that is no payment: never asked
            values.append(row)
            # The first outcome after the moment; the triggering event is none of its own.
            after = bisect.bisect_right if _is_outcome(event, outcome) else bisect.bisect_left
            at = after(outcomes, event.ts)
            labels.append(spec.label(event.ts, outcomes[at] if at < len(outcomes) else None, as_of))
            table["customer_id"].append(customer_id)
            table["time"].append(event.ts)
            table["event_id"].append(event.event_id)
    for j, name in enumerate(columns):
        table[name] = [row[j] for row in values]
    table["label"] = labels
    return LabelledTable(table)
