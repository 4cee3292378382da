"""Test doubles and event builders shared by the tests. Unit tests only: integration
tests use the real broker, Redis and Ray started in conftest.py."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from actors.errors import ModelError
from actors.model.events import Event, event_from_dict
from actors.model.features import PAYMENT_FEATURES
from actors.model.model_names import is_own_model
from actors.model.offer_features import RECOMMENDER_FEATURES, expand
from actors.turn.scoring import Score

T0 = 1_780_000_000.0  # 2026-05-28, a fixed event time for the tests
_ids = itertools.count(1)

_OFFER_AFFINITY = RECOMMENDER_FEATURES.index("offer_affinity")
_NEW_COUNTRY = PAYMENT_FEATURES.index("new_country")
_AMOUNT = PAYMENT_FEATURES.index("amount_log")


def event(type_: str, customer: str | None = "c1", at: float = T0, **fields: Any) -> Event:
    """A valid event of `type_` with sensible defaults; override any field."""
    defaults: dict[str, dict[str, Any]] = {
        "page_view": {"url": "/"},
        "product_view": {"product_id": "p1", "category": "electronics", "price": 100.0},
        "cart_add": {"product_id": "p1", "category": "electronics", "price": 100.0},
        "cart_remove": {"product_id": "p1"},
        "purchase": {"order_id": "o1", "total": 100.0},
        "login": {},
        "card_payment": {
            "payment_id": f"pay{next(_ids)}",
            "amount": 40.0,
            "merchant": "Shop",
            "country": "US",
        },
        "content_view": {"content_id": "x1", "genre": "drama", "completion": 0.5},
        "identify": {},
        "alias": {},
        "offer_feedback": {"outcome": "clicked", "offer_id": "electronics_10"},
        "custom": {"name": "Product Added to Wishlist"},
        "fraud_report": {"payment_id": "pay1"},
        "chargeback": {"payment_id": "pay1", "amount": 40.0},
    }
    data: dict[str, Any] = {
        "type": type_,
        "event_id": fields.pop("event_id", f"e{next(_ids)}"),
        "customer_id": customer,
        "timestamp": datetime.fromtimestamp(at, UTC).isoformat(),
        **defaults[type_],
        **fields,
    }
    return event_from_dict(data)


class FakeScorer:
    """Deterministic scores: fraud from the new-country and amount features; offers from
    the customer's affinity to each offer's categories. Records every request."""

    def __init__(
        self,
        version: str = "1",
        fail: Exception | None = None,
        winback: float | None = 0.3,
        own: dict[str, float] | None = None,
    ) -> None:
        self.version = version
        self.fail = fail
        # p(repurchase) for every customer; None: no win-back model is served.
        self.winback = winback
        # The score of each model of a team's own that has a champion, for every row.
        self.own = dict(own or {})
        self.requests: list[tuple[str, list[list[float]]]] = []

    async def score(self, model: str, rows: Sequence[Sequence[float]]) -> list[Score]:
        if self.fail is not None:
            raise self.fail
        self.requests.append((model, [list(r) for r in rows]))
        if model == "winback":
            if self.winback is None:
                raise ModelError(model, "no champion is registered")
            return [Score(model, self.version, (self.winback,)) for _ in rows]
        if is_own_model(model):
            if model not in self.own:
                raise ModelError(model, "no champion is registered")
            return [Score(model, self.version, (self.own[model],)) for _ in rows]
        out = []
        for row in rows:
            if model == "fraud":
                p = 0.95 if row[_NEW_COUNTRY] and row[_AMOUNT] > 5 else 0.02
                out.append(Score(model, self.version, (p,)))
            else:
                matrix, _ = expand([row])
                affinity = matrix[:, _OFFER_AFFINITY]
                values = tuple(min(0.9, 0.05 + 0.1 * float(a)) for a in affinity)
                out.append(Score(model, self.version, values))
        return out


def metric(text: str, name: str, **labels: str) -> float | None:
    """The value of one sample of Prometheus text (labels in any order), None if absent."""
    from prometheus_client.parser import text_string_to_metric_families

    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return float(sample.value)
    return None
