"""The scores one turn needs: the rows taken from what the batch prefetched, the rest
asked of the model server in one round trip, the best offer ranked from the catalogue."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field

from actors.catalog.catalog import Catalog
from actors.catalog.offer import CatalogOffer
from actors.errors import ModelError, ScorerUnavailableError
from actors.model.feature_views import engine_row
from actors.model.features import features
from actors.model.model_names import FRAUD, RECOMMENDER, WINBACK, is_own_model
from actors.model.state import CustomerState
from actors.rules.context import Before
from actors.rules.specs import ExplorationSpec
from actors.turn.decide import Decided, decide
from actors.turn.offers import Audience, RankedOffer, eligible, rank, recommender_row
from actors.turn.prefetch import BatchScores
from actors.turn.scoring import Score, Scorer


@dataclass(frozen=True, slots=True)
class Scored:
    """What a turn scored: the scores and model versions rules read, and the offer
    decision (the offer to make first, drawn when the turn explores) with the features
    the recommender saw, for the decision log."""

    scores: dict[str, float] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    decided: Decided | None = None
    features: list[float] | None = None

    @property
    def best(self) -> RankedOffer | None:
        return self.decided.best if self.decided is not None else None


@dataclass(frozen=True, slots=True)
class TurnScoring:
    scorer: Scorer
    catalog: Catalog
    now: float
    # How the turn's offer decision explores (actors.decisions.exploration), for the
    # channel of the rule it is for.
    exploration: ExplorationSpec = field(default_factory=ExplorationSpec)
    channel: str | None = None

    async def score(
        self,
        needed: set[str],
        customer_id: str,
        state: CustomerState,
        at: float,
        trigger_id: str,
        before: Before,
        ahead: BatchScores,
        audience: Audience,
    ) -> Scored:
        scores: dict[str, float] = {}
        versions: dict[str, str] = {}
        decided: Decided | None = None
        fraud_row = before.payment if FRAUD in needed else None
        # Models of the team's own, in a fixed order: the answers are taken in it.
        own = sorted(name for name in needed if is_own_model(name))
        wants_customer = RECOMMENDER in needed or WINBACK in needed or bool(own)
        customer = features(state, at) if wants_customer else None
        fraud = None
        if fraud_row is not None:
            fraud = ahead.take(customer_id, trigger_id, FRAUD, fraud_row)
        requests = []
        if fraud_row is not None and fraud is None:
            requests.append(self.scorer.score(FRAUD, [fraud_row]))
        offers: list[CatalogOffer] = []
        affinities = audience.affinities or {}
        if RECOMMENDER in needed and customer is not None:
            offers = eligible(self.catalog, at=self.now, audience=audience)
            row = recommender_row(customer, affinities, offers)
            requests.append(self.scorer.score(RECOMMENDER, [row]))
        if WINBACK in needed and customer is not None:
            requests.append(self._optional_score(WINBACK, customer))
        if own and customer is not None:
            row = engine_row(customer, before.payment)
            requests.extend(self._optional_score(name, row) for name in own)
        if len(requests) == 1:
            answers = [await requests[0]]
        elif requests:
            # Both models at once: one round trip to the model server, not two in a row.
            # (Only then: gather wraps each request in a task, which costs more than
            # awaiting a single one.)
            answers = list(await asyncio.gather(*requests))
        if fraud_row is not None:
            if fraud is None:
                (fraud,) = answers.pop(0)
            scores[FRAUD] = fraud.values[0]
            versions[FRAUD] = fraud.version
        if RECOMMENDER in needed and customer is not None:
            (recommended,) = answers.pop(0)
            if len(recommended.values) != len(offers):
                # A model server that reads requests otherwise (another feature spec, in
                # the middle of an upgrade): an outage, retried, never the event's fault.
                raise ScorerUnavailableError(
                    RECOMMENDER,
                    f"{len(recommended.values)} probabilities for {len(offers)} offers",
                )
            versions[RECOMMENDER] = recommended.version
            ranking = rank(customer, affinities, offers, recommended.values)
            domain = ranking.scored[0][0].domain if len(ranking) else None
            share = self.exploration.share_for(self.channel, domain)
            # Fixed by the customer and the trigger: a replayed turn draws the same.
            decided = decide(ranking, 1, share, f"{customer_id}\x1f{trigger_id}")
            if decided.best is not None:
                scores["offer_p"] = decided.best.probability
                scores["offer_value"] = decided.best.expected_value
        if WINBACK in needed and customer is not None:
            winback = answers.pop(0)  # empty when no win-back model is served
            if winback:
                scores[WINBACK] = winback[0].values[0]
                versions[WINBACK] = winback[0].version
        for name in own:
            answer = answers.pop(0)
            # Empty without a champion, or when the model's view reads the payment and
            # the event is none: the score is missing and a rule reading it holds.
            if answer and answer[0].values:
                scores[name] = answer[0].values[0]
                versions[name] = answer[0].version
        return Scored(scores, versions, decided, customer)

    async def _optional_score(self, model: str, row: Sequence[float]) -> list[Score]:
        """A model a deployment may lack: without a champion the score is missing (a rule
        reading it finds null and holds), and nothing else of the turn fails. An outage of
        the scorer still fails the turn, to be retried."""
        try:
            return await self.scorer.score(model, [row])
        except ModelError:
            return []
