"""Rules whose decisions do not depend on the wall clock, the customer's id or timing.

Quiet hours can be on all the same (`quiet_hours_around`): a window of the day that holds
the present for customers in New York's time zone and not for Europe's or UTC's, with
its edges 90 minutes from now, so the two runs of a comparison (minutes apart) defer the
same actions. With `extra_sinks`, two service rules send to a webhook (the fault test
makes it slow) and to e-mail (made to fail), beside the actions topic.

The two runs of a comparison serve customers with different ids at different moments,
in batches cut differently: quiet hours (the hour of day) and holdout groups (a hash of
the customer id) would make them differ for reasons that have nothing to do with faults,
and so would the fraud window. Its dispatch-time half holds back an offer decided just
before a fraud alert if the alert is known when the offer is dispatched (a compromised
account gets no marketing), which by design depends on whether the two were committed
in one batch or two. Guardrails have tests of their own (tests/actors/delivery/test_guardrails.py);
here none applies.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml

# Service rules to the other sinks (`extra_sinks`).
SINK_RULES: list[dict[str, Any]] = [
    {
        "id": "slow_sink_receipt",
        "description": "A title finished, told to the webhook (slow in the fault test).",
        "kind": "service",
        "triggers": ["content_view"],
        "when": "event.completion >= 0.9",
        "priority": 25,
        "action": {
            "type": "content_recommendation",
            "channel": "in_app",
            "sink": "webhook",
            "template": "watched {event.genre}",
        },
    },
    {
        "id": "failing_sink_notice",
        "description": "A login, told by e-mail (failing in the fault test).",
        "kind": "service",
        "triggers": ["login"],
        "priority": 25,
        "action": {
            "type": "reengagement",
            "channel": "email",
            "sink": "email",
            "template": "a new login",
        },
    },
]


def quiet_hours_around(now: float) -> dict[str, str]:
    """Quiet hours that hold `now` in New York's time zone (and Toronto's), not in Europe's
    or UTC's, with both edges 90 minutes away."""
    local = datetime.fromtimestamp(now, ZoneInfo("America/New_York"))
    start = (local - timedelta(minutes=90)).strftime("%H:%M")
    end = (local + timedelta(minutes=90)).strftime("%H:%M")
    return {"start": start, "end": end, "default_timezone": "UTC"}


def deterministic_rules(
    quiet_now: float | None = None, extra_sinks: bool = False
) -> dict[str, Any]:
    text = resources.files("actors.rules").joinpath("rulesets/default.yaml").read_text()
    rules: dict[str, Any] = yaml.safe_load(text)
    rules["policy"] = {"suppress_marketing_after_fraud": "0s"}
    if quiet_now is not None:
        rules["policy"]["quiet_hours"] = quiet_hours_around(quiet_now)
    if extra_sinks:
        rules["rules"] = [*rules["rules"], *SINK_RULES]
    return rules


def write_deterministic_rules(
    path: Path, quiet_now: float | None = None, extra_sinks: bool = False
) -> str:
    path.write_text(yaml.safe_dump(deterministic_rules(quiet_now, extra_sinks)))
    return str(path)
