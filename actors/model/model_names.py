"""The models engage ships, named once: rules read them as `scores.<name>`, the scorer
serves them, training trains them, the registry keeps their versions."""

from __future__ import annotations

from typing import Final, Literal

ModelName = Literal["recommender", "fraud", "winback"]
RECOMMENDER: Final = "recommender"
FRAUD: Final = "fraud"
# Asked only when a rule reads `scores.winback`; optional: a deployment without a win-back
# champion takes no decision that needs one (actors/turn/actor.py).
WINBACK: Final = "winback"
MODEL_NAMES: tuple[ModelName, ...] = (RECOMMENDER, FRAUD, WINBACK)
