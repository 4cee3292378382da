"""The models engage ships, named once: rules read them as `scores.<name>`, the scorer
serves them, training trains them, the registry keeps their versions.

Beside them, a team registers models of its own under names of its choosing
(`engage models register`); such a name follows `MODEL_NAME` and is none of the names
below, and rules read it as `scores.<name>` too (actors/rules/checks.py).
"""

from __future__ import annotations

import re
from typing import Final, Literal

ModelName = Literal["recommender", "fraud", "winback"]
RECOMMENDER: Final = "recommender"
FRAUD: Final = "fraud"
# Asked only when a rule reads `scores.winback`; optional: a deployment without a win-back
# champion takes no decision that needs one (actors/turn/actor.py).
WINBACK: Final = "winback"
MODEL_NAMES: tuple[ModelName, ...] = (RECOMMENDER, FRAUD, WINBACK)

# What a registered model may be called: a rule reads it as `scores.<name>`.
MODEL_NAME: Final = r"^[a-z][a-z0-9_]{0,63}$"
# `scores.<field>` names the recommender's answer reads as; a model of one's own may not
# take them, or a rule could not say which it means.
OFFER_SCORES: frozenset[str] = frozenset({"offer", "offer_p", "offer_value", "offer_category"})
RESERVED: frozenset[str] = frozenset(MODEL_NAMES) | OFFER_SCORES
# Compiled once: turns ask this of every model their rules read.
_MODEL_NAME = re.compile(MODEL_NAME)


def is_own_model(name: str) -> bool:
    """A name a team's own model may have: well formed, and not one engage uses."""
    return name not in RESERVED and _MODEL_NAME.match(name) is not None
