"""Bounds on what one customer's events can make its state hold, and the helpers that keep
them. They shape features, so they are part of the feature spec (the same in training and
live), not settings."""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Mapping

from actors.model.events import MAX_TRAITS

SESSION_GAP_S = 30 * 60.0
AFFINITY_HALF_LIFE_S = 7 * 24 * 3600.0
PAYMENT_WINDOW_S = 24 * 3600.0
MAX_SESSION_ITEMS = 20
# Bounds on what one customer's events can make the state hold. They shape features, so
# they are part of the feature spec (the same in training and live), not settings: a
# cart holds at most MAX_CART_LINES products (a further product is not added, as a shop
# refuses a full cart) of at most MAX_CART_QUANTITY each; a session counts at most
# MAX_SESSION_CATEGORIES categories (views of further ones still count as page views).
MAX_CART_LINES = 100
MAX_CART_QUANTITY = 999
MAX_SESSION_CATEGORIES = 32
MAX_SESSION_CUSTOM = 32
# Visitors one customer can absorb (browsers, devices); past it a visitor stays separate.
MAX_LINKED = 100
# Custom events are counted for models per name in a window: each name hashed into one of
# CUSTOM_BUCKETS counters per event-time day, CUSTOM_WINDOW_DAYS days kept. Hashing keeps
# the vector fixed whatever names a site invents (actors.model.features).
CUSTOM_BUCKETS = 8
CUSTOM_WINDOW_DAYS = 7
# A site's own categories ("cookery", "crime", any string) count for models the same way:
# each category's affinity, and its views in the session, summed into one of
# CATEGORY_BUCKETS columns by a stable hash of the category.
CATEGORY_BUCKETS = 16
MAX_PAYMENTS = 100
MAX_KNOWN = 16
# Marketing decisions kept for attribution and caps: a rule's action is one, a
# next-best-offer answer one per offer shown (three by default).
MAX_RECENT_ACTIONS = 16
# Offers counted per customer for `cap_per_customer` over the customer's whole life (the
# recent actions above reach back only so far): the offers made longest ago go first.
MAX_OFFERS_COUNTED = 64
# Categories a customer keeps an affinity for: any string a site sends counts (its own
# taxonomy), the weakest dropped past this, so a client key cannot grow a state with
# invented categories. The built-in keys' affinities are model features; any category's
# is read at ranking time against the offers' own categories.
MAX_AFFINITIES = 48


def strongest(weights: dict[str, float], limit: int) -> dict[str, float]:
    """The `limit` largest weights (ties broken by key, so that replays agree)."""
    if len(weights) <= limit:
        return weights
    kept = sorted(weights, key=lambda k: (-weights[k], k))[:limit]
    return {k: weights[k] for k in sorted(kept)}


def push_bounded(items: list[str], item: str, limit: int) -> None:
    if item in items:
        items.remove(item)
    items.append(item)
    if len(items) > limit:
        del items[0]


def custom_bucket(name: str) -> int:
    """The counter a custom event name is counted in (stable across processes)."""
    return hashlib.blake2b(name.encode(), digest_size=2).digest()[0] % CUSTOM_BUCKETS


def category_bucket(category: str) -> int:
    """The column a category's affinity and session views are counted in (stable across
    processes; salted apart from custom event names, so a category and an event of the
    same name need not share a column)."""
    digest = hashlib.blake2b(category.encode(), digest_size=2, person=b"category").digest()
    return int.from_bytes(digest, "big") % CATEGORY_BUCKETS


def recent_days(rows: list[list[int]]) -> list[list[int]]:
    """The rows of the last CUSTOM_WINDOW_DAYS days up to the newest (sorted by day)."""
    newest = rows[-1][0]
    return [r for r in rows if r[0] > newest - CUSTOM_WINDOW_DAYS]


def count_custom_day(rows: list[list[int]] | None, name: str, ts: float) -> list[list[int]]:
    """`rows` (one per event-time day: the day, then a count per bucket) with one more
    custom event `name` at `ts`; one older than the window is counted in no row."""
    day = int(ts // 86_400)
    rows = rows if rows is not None else []
    row = next((r for r in rows if r[0] == day), None)
    if row is None:
        if rows and day <= rows[-1][0] - CUSTOM_WINDOW_DAYS:
            return rows  # late, and older than the window: counted in no feature
        row = [day] + [0] * CUSTOM_BUCKETS
        rows.append(row)
        rows.sort()
    row[1 + custom_bucket(name)] += 1
    return recent_days(rows)


def custom_totals(rows: list[list[int]] | None, at: float) -> list[int]:
    """Custom events per bucket in the CUSTOM_WINDOW_DAYS days up to `at` (event time)."""
    totals = [0] * CUSTOM_BUCKETS
    day = int(at // 86_400)
    for row in rows or ():
        if day - CUSTOM_WINDOW_DAYS < row[0] <= day:
            for bucket in range(CUSTOM_BUCKETS):
                totals[bucket] += row[1 + bucket]
    return totals


def count_bounded(counts: dict[str, int] | None, key: str, limit: int) -> dict[str, int]:
    """`counts` with one more `key`; a key not yet counted is left out once `limit` keys
    are (the first ones seen in a session are kept)."""
    if counts is None:
        counts = {}
    held = counts.get(key)
    if held is not None:
        counts[key] = held + 1
    elif len(counts) < limit:
        counts[key] = 1
    return counts


def count_latest(counts: dict[str, int] | None, key: str, limit: int) -> dict[str, int]:
    """`counts` with one more `key`, the key moved to the end; past `limit` keys the one
    counted longest ago is forgotten."""
    counts = {} if counts is None else counts
    counts[key] = counts.pop(key, 0) + 1
    while len(counts) > limit:
        del counts[next(iter(counts))]
    return counts


def merge_traits(
    kept: dict[str, str | int | float | bool] | None,
    given: Mapping[str, str | int | float | bool | None],
) -> dict[str, str | int | float | bool] | None:
    """`given` over `kept` (None removes a trait); past MAX_TRAITS the traits set longest
    ago go first, so a customer's newest traits are always readable."""
    traits = dict(kept or {})
    for name, value in given.items():
        traits.pop(name, None)  # re-inserted last: the newest
        if value is not None:
            traits[name] = value
    while len(traits) > MAX_TRAITS:
        del traits[next(iter(traits))]
    return traits or None


def min_opt(a: float | None, b: float | None) -> float | None:
    return b if a is None else a if b is None else min(a, b)


def max_opt(a: float | None, b: float | None) -> float | None:
    return b if a is None else a if b is None else max(a, b)


def shared(text: str) -> str:
    """One copy of a string that repeats across customers (categories, products, genres,
    countries) instead of one per customer: it keeps a live customer under 2 KB."""
    return sys.intern(text)


def decayed(value: float, since: float, at: float) -> float:
    """An affinity `value` as of `since`, halved every AFFINITY_HALF_LIFE_S until `at`."""
    factor: float = 0.5 ** ((at - since) / AFFINITY_HALF_LIFE_S)
    return value * factor
