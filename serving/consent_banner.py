"""A consent banner's categories as engage's consent per channel and purpose.

Consent managers (OneTrust, Segment's Consent Management, Cookiebot, ...) send the
visitor's choices with each call as `context.consent.categoryPreferences`, named by the
site: `{"Advertising": false, "C0004": true}`. `ENGAGE_API_CONSENT_CATEGORIES` says which
of engage's consent keys each category covers (actors.model.consent patterns); category
names are matched without regard to case. By default `marketing` and `advertising` cover
marketing on every channel.

A banner runs in the page, so from a client key only its withdrawals are taken: a grant
comes from the consent platform's server, with a server key (serving.sources).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from actors.model.consent import expand

DEFAULT_CATEGORIES: dict[str, tuple[str, ...]] = {
    "marketing": ("*.marketing",),
    "advertising": ("*.marketing",),
}


def check_categories(categories: Mapping[str, tuple[str, ...]]) -> None:
    """ValueError naming the first pattern that is not engage's consent."""
    for name, patterns in categories.items():
        for pattern in patterns:
            try:
                expand(pattern)
            except ValueError as error:
                raise ValueError(f"category {name!r}: {error}") from None


def banner_consent(
    context: Mapping[str, Any], categories: Mapping[str, tuple[str, ...]], grants: bool
) -> dict[str, bool]:
    """The consent patterns a call's banner choices answer (grants only if `grants`)."""
    consent = context.get("consent")
    preferences = consent.get("categoryPreferences") if isinstance(consent, dict) else None
    if not isinstance(preferences, dict):
        return {}
    by_name = {name.lower(): patterns for name, patterns in categories.items()}
    answers: dict[str, bool] = {}
    for name, choice in preferences.items():
        patterns = by_name.get(str(name).lower())
        if patterns is None or not isinstance(choice, bool) or (choice and not grants):
            continue
        for pattern in patterns:
            # Two categories covering one key: a withdrawal in either wins.
            answers[pattern] = answers.get(pattern, choice) and choice
    return answers
