"""Feature views: the columns a team's own model reads, chosen from engage's features.

engage computes two vectors for a turn, each defined once (actors/model/features.py): the
customer vector at the moment of the event (`CUSTOMER_FEATURES`), and on a card payment
the payment against the history before it (`PAYMENT_FEATURES`). A turn that a model of
one's own is asked in sends the *engine row*, both vectors side by side, the payment's
columns not-a-number when the event is no payment; the model server takes from it the
columns of the model's view. So a new model, or a new version reading other columns,
needs no change to any shard, and training replays the same two vectors as the live turn
computes them.

A view is written as a comma-separated list of view names (`customer`, `payment`) and
column names, in the order the model was fitted on: `customer`, `payment`,
`customer,payment` or `orders,spend_log,days_since_purchase`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from actors.model.features import CUSTOMER_FEATURES, PAYMENT_FEATURES

VIEWS: dict[str, tuple[str, ...]] = {
    "customer": CUSTOMER_FEATURES,
    "payment": PAYMENT_FEATURES,
}
ENGINE_COLUMNS: tuple[str, ...] = CUSTOMER_FEATURES + PAYMENT_FEATURES
_POSITION = {name: i for i, name in enumerate(ENGINE_COLUMNS)}
_NO_PAYMENT = [math.nan] * len(PAYMENT_FEATURES)


class FeatureViewError(ValueError):
    """A view naming a column engage does not compute, or naming one twice."""


def resolve(view: str) -> tuple[str, ...]:
    """The columns `view` names, in order."""
    columns: list[str] = []
    for part in (p.strip() for p in view.split(",")):
        if not part:
            raise FeatureViewError(f"feature view {view!r}: an empty name between commas")
        if part in VIEWS:
            columns.extend(VIEWS[part])
        elif part in _POSITION:
            columns.append(part)
        else:
            raise FeatureViewError(
                f"feature view {view!r}: no view or feature named {part!r} (views: "
                f"{', '.join(VIEWS)}; features: docs/features.md)"
            )
    doubled = sorted({c for c in columns if columns.count(c) > 1})
    if doubled:
        raise FeatureViewError(f"feature view {view!r}: {', '.join(doubled)} named twice")
    return tuple(columns)


def positions(columns: Sequence[str]) -> list[int]:
    """Where each column sits in the engine row."""
    try:
        return [_POSITION[c] for c in columns]
    except KeyError as missing:
        raise FeatureViewError(f"no feature named {missing.args[0]!r}") from None


def engine_row(customer: Sequence[float], payment: Sequence[float] | None) -> list[float]:
    """The row a turn sends a model of one's own (see the module's docstring)."""
    return [*customer, *(payment if payment is not None else _NO_PAYMENT)]
