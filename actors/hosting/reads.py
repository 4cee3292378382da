"""What reads of a customer answer: a snapshot of its whole context, and the narrower
inputs of next-best-offer. Pure functions of a state, used by shards (live state) and by
the API (committed state read from the store); reads never wait for a customer's turn."""

from __future__ import annotations

from typing import Any

from actors.model import consent
from actors.model.features import feature_dict, features
from actors.model.offer_features import affinities_at
from actors.model.state import CustomerState
from actors.rules.context import Before, build_context, cart_view, customer_view, session_view
from actors.rules.ruleset import RuleSet
from actors.rules.segments import SegmentView
from actors.turn.offers import offered_counts, recent_offers


def snapshot_of(
    customer_id: str,
    state: CustomerState,
    at: float,
    suppress_after_fraud_s: float,
) -> dict[str, Any]:
    return {
        "customer_id": customer_id,
        "known": state.events_total > 0,
        "version": state.version,
        "at": at,
        "customer": customer_view(customer_id, state, at, 0.0, suppress_after_fraud_s),
        "session": session_view(state, at, None),
        "cart": cart_view(state),
        # The segments its latest event left it in (actors.rules.segments).
        "segments": list(state.segments or ()),
        "features": feature_dict(state, at),
        # Every category it keeps an affinity for, any string its site sent.
        "affinities": affinities_at(state, at),
        "vector": features(state, at),
    }


def offer_inputs_of(
    customer_id: str, state: CustomerState, now: float, rules: RuleSet
) -> dict[str, Any]:
    """What next-best-offer reads of a customer: the model's features, why an offer may
    not go to it on each channel (consent for marketing there, the rules' policy window
    after a fraud alert), and the segments it is in (offers' eligibility may name them)."""
    when = state.last_event_at or now
    policy = rules.policy
    suppress_after_fraud_s = policy.suppress_marketing_after_fraud
    context = build_context(
        customer_id, state, when, None, Before(0.0, None), suppress_after_fraud_s, rules.segments
    )
    segments: SegmentView = context["segment"]
    return {
        "known": state.events_total > 0,
        "vector": features(state, when),
        # Why an offer may not go to the customer on each channel now (None: it may):
        # judged at the request, so a fraud alert's window ends with no new event.
        "blocked": {
            channel: consent.blocked(
                "marketing",
                channel,
                state.consent,
                policy.opt_in,
                state.fraud_alert_at,
                now,
                suppress_after_fraud_s,
            )
            for channel in consent.CHANNELS
        },
        "top_affinity": state.top_affinity(when),
        # For the catalogue's eligibility conditions and per-customer caps.
        "customer": customer_view(customer_id, state, when, 0.0, suppress_after_fraud_s),
        "offered": offered_counts(state),
        "affinities": affinities_at(state, when),
        "recent": sorted(recent_offers(state, now, rules.policy.no_repeat_within)),
        "segments": dict.fromkeys(segments.members_of(), True),
    }
