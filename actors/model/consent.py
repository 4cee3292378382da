"""May engage send this customer this message now? Consent is kept per channel and
purpose (`email.marketing`, `sms.service`, ...), and one answer is given by the turn (a
rule's blocker), by the guardrails at delivery, and by next-best-offer for a channel,
each from what it has: the customer's state, or the guard facts the commit wrote beside
it.

Every channel and purpose is granted until the customer withdraws it, except those the
rules' policy lists as opt-in (`policy.opt_in`), which wait for an explicit grant: the
jurisdiction decides, not engage. Fraud alerts never ask; service messages ask only their
channel's service consent; marketing asks its channel's marketing consent and waits out
the window around a fraud alert.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from typing import Literal, get_args

ConsentChannel = Literal["email", "push", "sms", "in_app"]
Purpose = Literal["marketing", "service"]
CHANNELS: tuple[str, ...] = get_args(ConsentChannel)
PURPOSES: tuple[str, ...] = get_args(Purpose)
ConsentKey = Literal[
    "email.marketing",
    "email.service",
    "push.marketing",
    "push.service",
    "sms.marketing",
    "sms.service",
    "in_app.marketing",
    "in_app.service",
]
KEYS: tuple[str, ...] = get_args(ConsentKey)
assert tuple(f"{c}.{p}" for c in CHANNELS for p in PURPOSES) == KEYS

# Where the commit keeps each answer in the customer's guard hash (actors.delivery).
GUARD_PREFIX = "consent|"
# The guard fact of the single marketing opt-out engage kept before consent per channel.
LEGACY_OPTOUT = "optout"
NEAR_FRAUD = "fraud alert within the suppression window"


def key_of(channel: str, purpose: str) -> str:
    return f"{channel}.{purpose}"


def no_consent(key: str) -> str:
    channel, purpose = key.split(".")
    return f"customer opted out of {purpose} on {channel}"


def expand(pattern: str) -> tuple[str, ...]:
    """The keys a pattern names: `email.marketing`, `email.*` (both purposes of a
    channel), `*.marketing` (a purpose on every channel) or `*`. ValueError otherwise."""
    channel, dot, purpose = pattern.partition(".")
    if pattern == "*":
        return KEYS
    if not dot or (channel != "*" and channel not in CHANNELS):
        raise ValueError(
            f"unknown consent {pattern!r}: channel.purpose, channel one of "
            f"{', '.join(CHANNELS)} or *, purpose one of {', '.join(PURPOSES)} or *"
        )
    if purpose != "*" and purpose not in PURPOSES:
        raise ValueError(f"unknown purpose in consent {pattern!r}: {', '.join(PURPOSES)} or *")
    return tuple(
        key_of(c, p)
        for c in CHANNELS
        if channel in ("*", c)
        for p in PURPOSES
        if purpose in ("*", p)
    )


def resolve(patterns: Iterable[tuple[str, bool]]) -> dict[str, bool]:
    """The answer per key of patterns given together: the more specific pattern wins
    (`{"*.marketing": false, "email.marketing": true}` keeps e-mail only)."""
    ordered = sorted(patterns, key=lambda item: item[0].count("*"), reverse=True)
    answers: dict[str, bool] = {}
    for pattern, given in ordered:
        for key in expand(pattern):
            answers[key] = given
    return answers


def given(consent: Mapping[str, bool] | None, key: str, opt_in: Collection[str]) -> bool:
    """The customer's answer for `key`, or the default: granted unless opt-in."""
    if consent is not None and key in consent:
        return consent[key]
    return key not in opt_in


def matrix(consent: Mapping[str, bool] | None, opt_in: Collection[str]) -> dict[str, bool]:
    """Every key with the customer's answer or its default."""
    return {key: given(consent, key, opt_in) for key in KEYS}


def stricter(a: Mapping[str, bool] | None, b: Mapping[str, bool] | None) -> dict[str, bool]:
    """Two histories of one person merged: a withdrawal in either wins."""
    out = dict(a or {})
    for key, answer in (b or {}).items():
        out[key] = out.get(key, answer) and answer
    return out


def near_fraud_alert(fraud_alert_at: float | None, at: float, window_s: float) -> bool:
    """Whether `at` is within `window_s` of the customer's last fraud alert, before or
    after it: an action decided just before an alert whose delivery comes after it is
    held as well."""
    return fraud_alert_at is not None and abs(at - fraud_alert_at) < window_s


def blocked(
    kind: str,
    channel: str,
    consent: Mapping[str, bool] | None,
    opt_in: Collection[str],
    fraud_alert_at: float | None,
    at: float,
    window_s: float,
) -> str | None:
    """Why an action of `kind` may not go to the customer on `channel` at `at`, or None
    when it may. Fraud alerts, and channels consent does not cover (a fraud team's alert
    feed, the decision log), always may."""
    if kind == "fraud" or channel not in CHANNELS:
        return None
    key = key_of(channel, kind)
    if not given(consent, key, opt_in):
        return no_consent(key)
    if kind == "marketing" and near_fraud_alert(fraud_alert_at, at, window_s):
        return NEAR_FRAUD
    return None


def guard_facts(consent: Mapping[str, bool]) -> dict[str, str]:
    """The customer's explicit answers as the commit writes them to the guard hash; the
    legacy opt-out is cleared, the keys now say it all."""
    facts = {GUARD_PREFIX + key: "1" if answer else "0" for key, answer in consent.items()}
    facts[LEGACY_OPTOUT] = "0"
    return facts


def from_guard_facts(facts: Mapping[str, str]) -> dict[str, bool]:
    """The explicit answers the guard hash holds (what `guard_facts` wrote, and an opt-out
    of every marketing channel where only the legacy fact is there)."""
    consent: dict[str, bool] = {}
    if facts.get(LEGACY_OPTOUT) == "1":
        consent.update(dict.fromkeys(expand("*.marketing"), False))
    for name, value in facts.items():
        if name.startswith(GUARD_PREFIX):
            consent[name.removeprefix(GUARD_PREFIX)] = value == "1"
    return consent
