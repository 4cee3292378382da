"""One offer decision: the ranking, the exploration draw, and the record the decision log
keeps of it. Next-best-offer answers and rule-fired offers decide here alike."""

from __future__ import annotations

from dataclasses import dataclass

from actors.decisions.exploration import Choice, choose
from actors.model.decision import Candidate, DecisionRecord, DecisionSource
from actors.turn.offers import RankedOffer, Ranking

# A record names at most this many candidates, best first (and always the one chosen):
# enough for an off-policy estimate to rank them again, bounded for a large catalogue.
MAX_LOGGED_CANDIDATES = 100


@dataclass(frozen=True, slots=True)
class Decided:
    """The offers to show, in order, and how they were chosen among the ranking."""

    offers: list[RankedOffer]
    choice: Choice
    ranking: Ranking

    @property
    def best(self) -> RankedOffer | None:
        return self.offers[0] if self.offers else None

    def candidates(self) -> list[Candidate]:
        kept = set(range(min(len(self.ranking), MAX_LOGGED_CANDIDATES))) | set(self.choice.order)
        return [
            Candidate(
                offer_id=offer.offer_id,
                probability=round(p, 6),
                value=offer.value,
                expected_value=round(p * offer.value, 6),
                propensity=self.choice.propensities[i],
            )
            for i, (offer, p) in enumerate(self.ranking.scored)
            if i in kept
        ]


def decide(ranking: Ranking, k: int, share: float, key: str) -> Decided:
    """The first `k` offers of `ranking` to show, the first drawn with probability `share`
    (actors.decisions.exploration), fixed by `key`."""
    choice = choose(len(ranking), k, share, key)
    return Decided([ranking.explain(i) for i in choice.order], choice, ranking)


@dataclass(frozen=True, slots=True)
class Context:
    """Who a decision was made for, where, and under which versions."""

    decision_id: str
    customer_id: str
    at: float
    source: DecisionSource
    rule_id: str
    campaign: str | None
    channel: str | None
    domain: str | None
    model: str
    model_version: str
    rules_version: str
    catalog_version: str


def decision_record(
    context: Context,
    decided: Decided | None,
    features: list[float],
    control: str | None = None,
    suppressed: str | None = None,
) -> DecisionRecord:
    """The decision log's record. A control group's decision keeps the offers that would
    have been shown (its outcomes are the control arm's); a suppressed one shows none."""
    shown = [] if decided is None or suppressed else [o.offer_id for o in decided.offers]
    return DecisionRecord(
        decision_id=context.decision_id,
        customer_id=context.customer_id,
        at=context.at,
        source=context.source,
        rule_id=context.rule_id,
        campaign=context.campaign,
        channel=context.channel,
        domain=context.domain,
        candidates=decided.candidates() if decided is not None else [],
        chosen=shown,
        propensity=decided.choice.propensity if decided is not None and shown else None,
        explored=decided is not None and decided.choice.explored and bool(shown),
        exploration=decided.choice.share if decided is not None else 0.0,
        control=control,
        suppressed=suppressed,
        model=context.model,
        model_version=context.model_version,
        rules_version=context.rules_version,
        catalog_version=context.catalog_version,
        features=[round(x, 6) for x in features],
        affinities={
            c: round(a, 6) for c, a in (decided.ranking.affinities if decided else {}).items()
        },
    )
