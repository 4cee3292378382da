"""Rules whose decisions do not depend on the wall clock or on the customer's id.

The two runs of a comparison serve customers with different ids at different moments:
quiet hours (the hour of day) and holdout groups (a hash of the customer id) would make
them differ for reasons that have nothing to do with faults. Guardrails have tests of
their own; here only the fraud suppression window, which is event time, stays.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

import yaml


def deterministic_rules() -> dict[str, Any]:
    text = resources.files("actors").joinpath("rulesets/default.yaml").read_text()
    rules: dict[str, Any] = yaml.safe_load(text)
    rules["policy"] = {"suppress_marketing_after_fraud": "24h"}
    return rules


def write_deterministic_rules(path: Path) -> str:
    path.write_text(yaml.safe_dump(deterministic_rules()))
    return str(path)
