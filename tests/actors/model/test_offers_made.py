"""How often each offer reached a customer, kept for its whole life: what an offer's
`cap_per_customer` is checked against, long after the offer left the remembered actions."""

from __future__ import annotations

from actors.model.action_record import SHOWN, ActionRecord
from actors.model.bounds import MAX_OFFERS_COUNTED, MAX_RECENT_ACTIONS
from actors.model.decision import NEXT_BEST_OFFER
from actors.model.merge import merge_states
from actors.model.state import CustomerState
from actors.model.state_format import state_from_dict
from tests.support import T0


def sent(offer_id: str, at: float = T0, held_out: bool = False) -> ActionRecord:
    return ActionRecord(f"a-{offer_id}-{at}", offer_id, "browse_offer", "browse", "3", at, held_out)


def test_an_offer_counts_for_life_not_only_while_its_action_is_remembered() -> None:
    state = CustomerState()
    state.remember_action(sent("capped", T0))
    state.remember_action(sent("capped", T0 + 1))
    for n in range(3 * MAX_RECENT_ACTIONS):
        state.remember_action(sent(f"other-{n % 5}", T0 + 10 + n))
    assert state.recent_actions is not None
    assert all(r.offer_id != "capped" for r in state.recent_actions)
    assert state.offers_made is not None
    assert state.offers_made["capped"] == 2


def test_a_held_out_action_and_an_unshown_answer_reach_no_one() -> None:
    state = CustomerState()
    state.remember_action(sent("held", held_out=True))
    state.remember_action(ActionRecord("dec_1", "asked", NEXT_BEST_OFFER, "", "3", T0, False))
    assert state.offers_made is None
    state.remember_action(
        ActionRecord("dec_2", "shown", NEXT_BEST_OFFER, "", "3", T0, False, SHOWN)
    )
    assert state.offers_made == {"shown": 1}


def test_the_offers_made_longest_ago_are_forgotten_past_the_bound() -> None:
    state = CustomerState()
    for n in range(MAX_OFFERS_COUNTED + 10):
        state.remember_action(sent(f"o{n}", T0 + n))
    assert state.offers_made is not None
    assert len(state.offers_made) == MAX_OFFERS_COUNTED
    assert "o9" not in state.offers_made
    assert "o10" in state.offers_made
    state.remember_action(sent("o10", T0 + 1_000))  # made again: the latest now
    state.remember_action(sent("new", T0 + 1_001))
    assert state.offers_made["o10"] == 2
    assert "o11" not in state.offers_made  # the longest ago went, not the one made again


def test_a_merge_counts_both_histories() -> None:
    customer, visitor = CustomerState(), CustomerState()
    customer.remember_action(sent("a", T0))
    visitor.remember_action(sent("a", T0 + 1))
    visitor.remember_action(sent("b", T0 + 2))
    merged = merge_states(customer, visitor)
    assert merged.offers_made == {"a": 2, "b": 1}


def test_a_format_3_state_counts_what_its_remembered_actions_made() -> None:
    remembered = [
        ["a1", "x", "browse_offer", "browse", "3", T0, False, 0, ""],
        ["a2", "x", "browse_offer", "browse", "3", T0 + 1, False, 0, ""],
        ["a3", "y", "browse_offer", "browse", "3", T0 + 2, True, 0, "holdout"],
        ["dec_1", "z", NEXT_BEST_OFFER, "", "3", T0 + 3, False, 0, ""],
        ["dec_2", "w", NEXT_BEST_OFFER, "", "3", T0 + 4, False, SHOWN, ""],
    ]
    state = state_from_dict({"format": 3, "recent_actions": remembered}, now=T0)
    assert state.offers_made == {"x": 2, "w": 1}
