"""The saved form of a customer's state: every earlier format is read by today's code, and
what this code cannot read is refused, never dropped (actors.model.state_format)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from actors.errors import StateFormatError
from actors.model.dedup import key_hash
from actors.model.features import CUSTOMER_FEATURES, feature_dict
from actors.model.state_format import STATE_FORMAT, state_from_dict, state_to_dict

SAVED_FORMAT_1 = Path(__file__).parent / "data" / "state_format_1.json"
SPEC_2_FEATURES = [
    name for name in CUSTOMER_FEATURES if not name.startswith(("category_", "session_category_"))
]


def saved() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(SAVED_FORMAT_1.read_text())
    return data


def test_a_state_saved_in_format_1_is_read_with_the_same_features_and_applied_events() -> None:
    # Given a state saved by format 1's code, and the features that code computed from it
    fixture = saved()
    assert fixture["state"]["format"] == 1
    # when today's code reads it
    state = state_from_dict(fixture["state"], now=fixture["at"])
    # then the features are those format 1 computed (the columns of feature spec 2, which
    # it ran; spec 3 added the category buckets), and every event it had applied is still
    # known as applied
    now = feature_dict(state, fixture["at"])
    assert [now[name] for name in SPEC_2_FEATURES] == fixture["features"]
    assert state.applied is not None
    assert all(state.applied.has(key_hash(eid)) for eid in fixture["applied_event_ids"])
    assert state.linked == ["anon:v1"]


def test_a_migrated_state_is_saved_in_the_current_format() -> None:
    fixture = saved()
    state = state_from_dict(fixture["state"], now=fixture["at"])
    again = state_to_dict(state)
    assert again["format"] == STATE_FORMAT
    assert state_from_dict(again) == state


def test_a_state_of_a_newer_format_is_refused_as_an_outage() -> None:
    data = state_to_dict(state_from_dict(saved()["state"], now=0.0))
    data["format"] = STATE_FORMAT + 1
    with pytest.raises(StateFormatError) as caught:
        state_from_dict(data)
    assert caught.value.found == STATE_FORMAT + 1


def test_a_field_the_format_does_not_name_is_refused_not_dropped() -> None:
    data = state_to_dict(state_from_dict(saved()["state"], now=0.0))
    data["loyalty_tier"] = "gold"
    with pytest.raises(StateFormatError) as caught:
        state_from_dict(data)
    assert "loyalty_tier" in caught.value.reason


def test_format_2_actions_are_read_with_no_control_group_and_keep_their_arm() -> None:
    # Given a state saved by format 2's code: remembered actions of 8 fields, one held out
    data = {
        "format": 2,
        "events_total": 3,
        "recent_actions": [
            ["a1", "books_15", "browse_offer", "browse", "3", 1.0, False, 0],
            ["a2", "books_15", "browse_offer", "browse", "3", 2.0, True, 4],
        ],
    }
    # when today's code reads it
    state = state_from_dict(data)
    # then each keeps its arm (a held-out one stays in the campaign's holdout arm) and its
    # outcomes, and is saved again in today's format
    assert state.recent_actions is not None
    assert [(r.group, r.outcomes, r.control) for r in state.recent_actions] == [
        ("treated", 0, ""),
        ("holdout", 4, ""),
    ]
    assert state_from_dict(state_to_dict(state)) == state


def test_a_format_4_opt_out_becomes_a_withdrawal_of_marketing_on_every_channel() -> None:
    # Given states saved by format 4's code: one opted out, one never said
    out = state_from_dict({"format": 4, "events_total": 1, "consent_marketing": False})
    silent = state_from_dict({"format": 4, "events_total": 1, "consent_marketing": True})
    # then the opt-out is kept per channel, service untouched, and the silent one keeps
    # no answer at all (the defaults apply)
    assert out.consent == {
        "email.marketing": False,
        "push.marketing": False,
        "sms.marketing": False,
        "in_app.marketing": False,
    }
    assert silent.consent is None
    assert state_to_dict(out)["consent"] == out.consent
