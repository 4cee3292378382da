"""Two histories of one person as one: what an identity merge (actors.model.identity)
does to a customer's state. Defined for every field of CustomerState, so a merge keeps
every per-customer bound however many visitors a customer absorbs."""

from __future__ import annotations

from actors.model import cart, consent
from actors.model.bounds import (
    CUSTOM_BUCKETS,
    MAX_AFFINITIES,
    MAX_KNOWN,
    MAX_LINKED,
    MAX_OFFERS_COUNTED,
    MAX_PAYMENTS,
    MAX_RECENT_ACTIONS,
    MAX_SESSION_CUSTOM,
    MAX_SESSION_ITEMS,
    PAYMENT_WINDOW_S,
    SESSION_GAP_S,
    max_opt,
    merge_traits,
    min_opt,
    push_bounded,
    recent_days,
    strongest,
)
from actors.model.dedup import Applied
from actors.model.state import CustomerState


def merge_states(first: CustomerState, second: CustomerState) -> CustomerState:
    """Combine two histories of one person into a new state. Defined for every field.

    Counters add, times take the earliest first-seen and latest last-seen, bounded lists
    keep the most recent items, consent takes the more restrictive answer.
    """
    merged = CustomerState()
    a, b = first, second
    merged.first_seen = min_opt(a.first_seen, b.first_seen)
    merged.last_event_at = max_opt(a.last_event_at, b.last_event_at)
    merged.events_total = a.events_total + b.events_total
    latest = a if (a.last_event_at or 0.0) >= (b.last_event_at or 0.0) else b
    merged.session_index = max(a.session_index, b.session_index)
    merged.session_start = latest.session_start
    same_session = (
        a.last_event_at is not None
        and b.last_event_at is not None
        and abs(a.last_event_at - b.last_event_at) <= SESSION_GAP_S
    )
    sessions = (a, b) if same_session else (latest,)
    merged.session_page_views = sum(s.session_page_views for s in sessions)
    merged.session_products = _merge_lists(
        [s.session_products for s in sessions], MAX_SESSION_ITEMS
    )
    merged.session_content = _merge_lists([s.session_content for s in sessions], MAX_SESSION_ITEMS)
    merged.session_categories = _merge_counts([s.session_categories for s in sessions])
    custom = _merge_counts([s.session_custom for s in sessions])
    merged.session_custom = dict(list(custom.items())[:MAX_SESSION_CUSTOM]) if custom else None
    days: dict[int, list[int]] = {}
    for row in (a.custom_days or []) + (b.custom_days or []):
        day = days.setdefault(row[0], [row[0]] + [0] * CUSTOM_BUCKETS)
        for bucket in range(1, CUSTOM_BUCKETS + 1):
            day[bucket] += row[bucket]
    merged.custom_days = recent_days(sorted(days.values())) if days else None
    if same_session and a.session_start is not None and b.session_start is not None:
        merged.session_start = min(a.session_start, b.session_start)
    merged.cart = cart.merged(a.cart, b.cart)
    merged.cart_updated_at = max_opt(a.cart_updated_at, b.cart_updated_at)
    merged.orders = a.orders + b.orders
    merged.spend = a.spend + b.spend
    merged.last_purchase_at = max_opt(a.last_purchase_at, b.last_purchase_at)
    merged.content_views = a.content_views + b.content_views
    merged.last_login_at = max_opt(a.last_login_at, b.last_login_at)
    merged.failed_logins = a.failed_logins + b.failed_logins
    merged.affinity_at = max_opt(a.affinity_at, b.affinity_at)
    if merged.affinity_at is not None:
        at = merged.affinity_at
        keys = set(a.affinities or ()) | set(b.affinities or ())
        merged.affinities = strongest(
            {k: a.affinity(k, at) + b.affinity(k, at) for k in sorted(keys)}, MAX_AFFINITIES
        )
    payments = sorted((a.payments or []) + (b.payments or []))
    if payments:
        newest = payments[-1][0]
        merged.payments = [p for p in payments if newest - p[0] <= PAYMENT_WINDOW_S][-MAX_PAYMENTS:]
    # Chan et al.'s parallel combination of Welford statistics.
    n = a.pay_count + b.pay_count
    merged.pay_count = n
    if n:
        delta = b.pay_mean - a.pay_mean
        merged.pay_mean = a.pay_mean + delta * b.pay_count / n
        merged.pay_m2 = a.pay_m2 + b.pay_m2 + delta * delta * a.pay_count * b.pay_count / n
    merged.last_payment_at = max_opt(a.last_payment_at, b.last_payment_at)
    merged.countries = _merge_lists([a.countries, b.countries], MAX_KNOWN)
    merged.devices = _merge_lists([a.devices, b.devices], MAX_KNOWN)
    merged.email = a.email or b.email
    # The more recent history's traits win where both have one.
    older = b if latest is a else a
    merged.traits = merge_traits(older.traits, latest.traits or {})
    merged.timezone = a.timezone or b.timezone
    merged.consent = consent.stricter(a.consent, b.consent) or None
    fired: dict[str, tuple[float, int]] = dict(b.fired or {})
    for rule, (ts, session) in (a.fired or {}).items():
        if rule not in fired or fired[rule][0] < ts:
            fired[rule] = (ts, session)
    merged.fired = fired or None
    merged.fraud_alert_at = max_opt(a.fraud_alert_at, b.fraud_alert_at)
    recent = sorted((a.recent_actions or []) + (b.recent_actions or []), key=lambda r: r.at)
    merged.recent_actions = recent[-MAX_RECENT_ACTIONS:] or None
    # Both histories' offers count against caps; the latest history's made latest.
    made = dict(older.offers_made or {})
    for offer_id, times in (latest.offers_made or {}).items():
        made[offer_id] = made.pop(offer_id, 0) + times
    merged.offers_made = dict(list(made.items())[-MAX_OFFERS_COUNTED:]) or None
    merged.offers_shown = a.offers_shown + b.offers_shown
    merged.offer_clicks = a.offer_clicks + b.offer_clicks
    merged.offer_conversions = a.offer_conversions + b.offer_conversions
    merged.chargebacks = a.chargebacks + b.chargebacks
    merged.fraud_reports = a.fraud_reports + b.fraud_reports
    merged.fraud_confirmed_at = max_opt(a.fraud_confirmed_at, b.fraud_confirmed_at)
    merged.applied = _merge_applied(a.applied, b.applied)
    merged.linked = _merge_lists([a.linked, b.linked], MAX_LINKED)
    # One run per journey: the customer's own where both are on it (its reminder is the
    # one kept when the visitor's reminders move over).
    merged.journeys = {**(b.journeys or {}), **(a.journeys or {})} or None
    # Taken anew at the end of the turn that merges them; until then, the union.
    merged.segments = sorted(set(a.segments or ()) | set(b.segments or ())) or None
    return merged


def _merge_applied(a: Applied | None, b: Applied | None) -> Applied | None:
    if a is not None and b is not None:
        return a.merged(b)
    only = a if a is not None else b
    return only.copy() if only is not None else None


def _merge_lists(sources: list[list[str] | None], limit: int) -> list[str] | None:
    out: list[str] = []
    for source in sources:
        for item in source or ():
            push_bounded(out, item, limit)
    return out or None


def _merge_counts(sources: list[dict[str, int] | None]) -> dict[str, int] | None:
    out: dict[str, int] = {}
    for source in sources:
        for key, count in (source or {}).items():
            out[key] = out.get(key, 0) + count
    return out or None
