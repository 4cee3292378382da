"""Which action gets the credit for an outcome, and who is held out.

Holdouts: a stable share of each campaign's customers gets no action (the decision is
still made and counted, as `holdout`), so the difference in conversion between treated
and held-out customers measures what the campaign adds (uplift). The global control
group (`policy.global_control`) gets no marketing at all; its actions are held the same
way.

Outcomes: an `offer_feedback` event names its decision (a next-best-offer answer's
`decision_id`, a rule's `action_id`; credited only if that decision showed the offer) or,
without a name, the latest decision that showed the offer within the attribution window;
a purchase within the window converts the retail offer of the purchased category and any
cart reminder, welcome-back or re-engagement action. Each outcome counts once per action.

Everything here is a pure function of the customer's state and the event, so replays
count nothing twice: counters are written in the same atomic commit as the state.
"""

from __future__ import annotations

import hashlib

from actors.model.action_record import CLICKED, CONVERTED, SHOWN, ActionRecord, made
from actors.model.actions import Action, OfferAction, WelcomeBackAction
from actors.model.catalog import offer as find_offer
from actors.model.events import Event, OfferFeedback, Purchase
from actors.model.model_names import RECOMMENDER
from actors.model.state import CustomerState
from actors.rules.specs import PolicySpec

_FLAG = {"shown": SHOWN, "clicked": CLICKED, "converted": CONVERTED}
CONVERTED_BY_ANY_PURCHASE = frozenset({"cart_reminder", "welcome_back", "reengagement"})


def in_holdout(customer_id: str, campaign: str, share: float) -> bool:
    """Stable across processes and replays: the same customer is always in or out."""
    if share <= 0.0:
        return False
    digest = hashlib.sha256(f"holdout\x1f{campaign}\x1f{customer_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < share


def in_global_control(customer_id: str, share: float) -> bool:
    """In the programme's control group: stable, and drawn apart from every campaign's
    holdout (another salt), so the two groups are independent."""
    if share <= 0.0:
        return False
    digest = hashlib.sha256(f"global-control\x1f{customer_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < share


def control_group(customer_id: str, campaign: str | None, policy: PolicySpec) -> str | None:
    """Why no marketing of `campaign` may reach the customer by design, or None:
    `global_control` (no marketing at all) or `holdout` (this campaign's control group).
    The one answer for the turn's actions and for next-best-offer."""
    if in_global_control(customer_id, policy.global_control):
        return "global_control"
    if campaign is not None and in_holdout(
        customer_id, campaign, policy.holdout.get(campaign, 0.0)
    ):
        return "holdout"
    return None


def counter(metric: str, record: ActionRecord) -> str:
    """The outcome counter a metric of this action increments (see actors.outcomes.reports)."""
    return "|".join(
        (
            metric,
            record.group,
            record.rule_id,
            record.campaign,
            record.offer_id,
            record.model_version,
        )
    )


def record_of(action: Action, control: str | None = None) -> ActionRecord:
    # Offers are credited by offer; other actions by their type (cart_reminder, ...).
    offer_id: str = action.type
    if isinstance(action, OfferAction | WelcomeBackAction) and action.offer_id:
        offer_id = action.offer_id
    return ActionRecord(
        action_id=action.action_id,
        offer_id=offer_id,
        rule_id=action.rule_id,
        campaign=action.campaign or "",
        model_version=action.model_versions.get(RECOMMENDER, ""),
        at=action.event_time.timestamp(),
        held_out=action.held_out,
        control=control or "",
    )


def attribute(state: CustomerState, event: Event, window_s: float) -> list[str]:
    """Credit the outcome `event` carries; returns the counters to increment."""
    if not state.recent_actions:
        return []
    ts = event.ts
    counters: list[str] = []
    updated: list[ActionRecord] = []
    credited_feedback = False
    for record in reversed(state.recent_actions):
        fresh = 0 <= ts - record.at <= window_s
        gained = 0
        if isinstance(event, OfferFeedback) and not credited_feedback:
            # The decision the feedback names, and only if it showed this offer; without a
            # name, the latest decision that showed the offer within the window.
            name = event.decision_id or event.action_id
            same_offer = event.offer_id == record.offer_id
            named = name is not None and name == record.action_id and same_offer
            implied = name is None and fresh and same_offer
            if named or implied:
                gained = _FLAG[event.outcome] & ~record.outcomes
                credited_feedback = True
        elif (
            isinstance(event, Purchase)
            and fresh
            and not record.outcomes & CONVERTED
            and _converted_by(record, event)
        ):
            gained = CONVERTED
        if gained:
            for name, flag in _FLAG.items():
                if gained & flag:
                    counters.append(counter(name, record))
            was_made = made(record)
            record = record._replace(outcomes=record.outcomes | gained)
            if not was_made and made(record):  # an answer's offer, now reported shown
                state.count_made(record.offer_id)
        updated.append(record)
    state.recent_actions = list(reversed(updated))
    return counters


def _converted_by(record: ActionRecord, purchase: Purchase) -> bool:
    if record.offer_id in CONVERTED_BY_ANY_PURCHASE:
        return True
    offer = find_offer(record.offer_id)
    if offer is None or offer.domain != "retail":
        return False  # banking and media offers convert through their own feedback
    return any(item.category == offer.affinity_key for item in purchase.items)
