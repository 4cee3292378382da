"""What a customer's state remembers of the marketing actions sent to it, for attribution
(actors.outcomes.attribution)."""

from __future__ import annotations

from typing import NamedTuple

from actors.model.decision import NEXT_BEST_OFFER

# Outcome flags of an ActionRecord.
SHOWN, CLICKED, CONVERTED = 1, 2, 4


class ActionRecord(NamedTuple):
    """A marketing action as attribution needs it: which offer, rule and model, when, and
    whether the customer was held out (no action sent: the control group)."""

    action_id: str
    offer_id: str
    rule_id: str
    campaign: str
    model_version: str
    at: float
    held_out: bool
    outcomes: int = 0
    # Which control group held it: "holdout" (the campaign's) or "global_control" (the
    # programme's); "" when treated, or remembered before the two were told apart.
    control: str = ""

    @property
    def group(self) -> str:
        """The report's arm: the programme's control group apart from a campaign's."""
        if self.control == "global_control":
            return "global_control"
        return "holdout" if self.held_out else "treated"


def made(record: ActionRecord) -> bool:
    """Whether the offer reached the customer: a rule's action that was not held out, or
    a next-best-offer answer's offer once the app reported it shown (an answer the app
    did not show made nothing, however often it asked)."""
    if record.held_out:
        return False
    return record.rule_id != NEXT_BEST_OFFER or bool(record.outcomes & SHOWN)
