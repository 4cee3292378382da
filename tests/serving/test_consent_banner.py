"""A consent banner's categories as engage's consent (serving.consent_banner)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from actors.model.events import Identify
from serving.config import ApiConfig
from serving.consent_banner import DEFAULT_CATEGORIES, banner_consent
from serving.segment import to_event

ONETRUST = {"C0004": ("*.marketing",), "C0005": ("push.marketing", "in_app.marketing")}


def preferences(**choices: bool) -> dict[str, object]:
    return {"consent": {"categoryPreferences": choices}}


def test_the_default_categories_cover_marketing_on_every_channel_whatever_the_case() -> None:
    assert banner_consent(preferences(Advertising=False), DEFAULT_CATEGORIES, grants=True) == {
        "*.marketing": False
    }


def test_a_sites_own_categories_map_onto_keys_and_a_withdrawal_in_either_wins() -> None:
    answers = banner_consent(preferences(C0004=True, C0005=False, C0002=True), ONETRUST, True)
    assert answers == {"*.marketing": True, "push.marketing": False, "in_app.marketing": False}


def test_from_a_client_only_the_banners_withdrawals_are_taken() -> None:
    answers = banner_consent(preferences(C0004=True, C0005=False), ONETRUST, grants=False)
    assert answers == {"push.marketing": False, "in_app.marketing": False}


def test_a_segment_identify_carries_the_banner_and_the_traits_consent() -> None:
    call = {
        "type": "identify",
        "userId": "u1",
        "traits": {"consent": {"sms.service": False}, "plan": "gold"},
        "context": preferences(C0004=False),
    }
    event = to_event(call, datetime.now(UTC), ONETRUST, client=True)
    assert isinstance(event, Identify)
    assert event.consent == {"*.marketing": False, "sms.service": False}
    assert event.traits == {"plan": "gold"}  # consent is not a trait


def test_a_category_naming_no_consent_key_is_refused_at_start() -> None:
    with pytest.raises(ValidationError, match=r"category 'C0004'.*fax"):
        ApiConfig(consent_categories={"C0004": ("fax.marketing",)})
