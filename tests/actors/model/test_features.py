"""The customer vector: custom events count for models per name, in a week's window."""

from __future__ import annotations

import math

from actors.model.bounds import CATEGORY_BUCKETS, CUSTOM_BUCKETS, category_bucket, custom_bucket
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


def test_a_category_no_code_knows_counts_towards_the_features_the_day_it_is_first_sent() -> None:
    state = CustomerState()
    state.apply(event("product_view", category="cookery", at=T0 - DAY))
    state.apply(event("cart_add", category="cookery", at=T0))
    state.apply(event("page_view", category="cookery", at=T0))
    bucket = category_bucket("cookery")
    now = feature_dict(state, T0)
    # The product view a day ago (weight 1, decayed a day) and the cart add now (3).
    assert now[f"category_{bucket}"] == state.affinity("cookery", T0)
    assert now[f"category_{bucket}"] > 3.0
    assert now[f"session_category_{bucket}"] == 1.0
    others = [f"category_{b}" for b in range(CATEGORY_BUCKETS) if b != bucket]
    assert all(now[column] == 0.0 for column in others)
    # A week on, the affinity has halved; the session it was seen in is over.
    later = feature_dict(state, T0 + 7 * DAY)
    assert later[f"category_{bucket}"] == state.affinity("cookery", T0 + 7 * DAY)
    assert later[f"category_{bucket}"] == now[f"category_{bucket}"] / 2


def test_categories_of_one_bucket_count_together_whatever_order_the_state_holds_them() -> None:
    names = [f"shelf-{n}" for n in range(200)]
    bucket = category_bucket(names[0])
    same = [name for name in names if category_bucket(name) == bucket][:3]
    assert len(same) == 3  # 200 names over 16 buckets: some share the first's
    # The same affinities held in two orders (as a merge or a replay may leave them), with
    # values whose float sum depends on the order it is taken in.
    forward, backward = CustomerState(), CustomerState()
    values = dict(zip(same, (0.1, 0.2, 0.3), strict=True))
    forward.affinities = dict(values)
    backward.affinities = dict(reversed(values.items()))
    forward.affinity_at = backward.affinity_at = T0
    column = f"category_{bucket}"
    assert feature_dict(forward, T0)[column] == feature_dict(backward, T0)[column]
    assert feature_dict(forward, T0)[column] == sum(values[name] for name in sorted(same))


def test_the_category_bucket_is_stable_across_processes() -> None:
    # A hash of the bytes, not Python's per-process salted `hash`: a model trained in one
    # process reads the same column as the shard that scores with it.
    assert [category_bucket(c) for c in ("fiction", "crime", "cookery")] == [4, 9, 5]
