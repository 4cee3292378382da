"""The customer vector: custom events count for models per name, in a week's window."""

from __future__ import annotations

import math

from actors.model.bounds import CUSTOM_BUCKETS, custom_bucket
from actors.model.features import CUSTOMER_FEATURES, feature_dict
from actors.model.state import CustomerState
from tests.support import T0, event

DAY = 86_400.0


def test_custom_events_are_model_features_per_name_over_the_last_week() -> None:
    state = CustomerState()
    for at in (T0 - 2 * DAY, T0 - DAY, T0):
        state.apply(event("custom", name="Checkout Step Viewed", at=at))
    columns = [f"custom_7d_{bucket}" for bucket in range(CUSTOM_BUCKETS)]
    assert CUSTOMER_FEATURES[-CUSTOM_BUCKETS:] == tuple(columns)
    now = feature_dict(state, T0)
    mine = f"custom_7d_{custom_bucket('Checkout Step Viewed')}"
    assert now[mine] == math.log1p(3)
    assert sum(now[c] for c in columns) == now[mine]
    # Six days on, the week holds the last one only.
    assert feature_dict(state, T0 + 6 * DAY)[mine] == math.log1p(1)
    assert feature_dict(CustomerState(), T0)[mine] == 0.0
