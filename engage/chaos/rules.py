"""Rules whose decisions do not depend on the wall clock, the customer's id or timing.

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

from importlib import resources
from pathlib import Path
from typing import Any

import yaml


def deterministic_rules() -> dict[str, Any]:
    text = resources.files("actors.rules").joinpath("rulesets/default.yaml").read_text()
    rules: dict[str, Any] = yaml.safe_load(text)
    rules["policy"] = {"suppress_marketing_after_fraud": "0s"}
    return rules


def write_deterministic_rules(path: Path) -> str:
    path.write_text(yaml.safe_dump(deterministic_rules()))
    return str(path)
