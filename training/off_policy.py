"""Off-policy evaluation: what a candidate recommender would have earned, judged on the
decisions the policy in force logged (actors.model.decision), before it is shadowed or
promoted.

Offline metrics on logged feedback flatter whatever the logging policy already chose:
an offer it never showed has no labels. Inverse propensity weighting corrects for that
with the propensities the log keeps. For each logged decision i with first offer a_i,
logged propensity p_i and reward r_i (1 when its feedback reached the chosen outcome),
and a deterministic target policy that would put t_i first:

    IPS   = (1/n) sum_i r_i [t_i = a_i] / p_i
    SNIPS = sum_i r_i w_i / sum_i w_i,   w_i = [t_i = a_i] / p_i

IPS is unbiased while every offer the target picks had a propensity above zero (which is
what exploration buys); SNIPS trades a little bias for far less variance. Intervals are
95%: the normal interval of IPS's mean, and the delta method's for SNIPS's ratio. With
no exploration the logged propensities are 1 for the best and 0 for the rest, so only
decisions where the candidate agrees with the logger count (`matched`), and the estimate
says so through a small effective sample size.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from actors.catalog.catalog import Catalog, built_in
from actors.model.decision import DecisionRecord
from actors.model.events import Event, OfferFeedback
from actors.model.offer_features import pair_rows

Outcome = Literal["shown", "clicked", "converted"]
_LEVEL = {"shown": 1, "clicked": 2, "converted": 3}
Z95 = 1.959963984540054


@dataclass(frozen=True, slots=True)
class Logged:
    """One logged decision as the estimate reads it."""

    decision_id: str
    features: list[float]
    affinities: dict[str, float]
    offers: list[str]  # the candidates, best first under the logger
    probabilities: list[float]  # the logger's p per candidate
    values: list[float]
    chosen: str
    propensity: float
    reward: float


def rewards_of(
    events: Iterable[Event],
    outcome: Outcome,
    records: Sequence[DecisionRecord] = (),
    window_s: float = 7 * 86_400.0,
) -> dict[tuple[str, str], float]:
    """1.0 for each (decision, offer) whose feedback reached `outcome` (converted implies
    clicked implies shown). Feedback names its decision, or, without a name, goes to the
    latest of `records` that showed the offer to the customer within `window_s` before
    it: the crediting the outcome report uses (actors.outcomes.attribution)."""
    shown: dict[tuple[str, str], list[tuple[float, str]]] = {}
    for record in records:
        if not record.control and not record.suppressed:
            for offer_id in record.chosen:
                shown.setdefault((record.customer_id, offer_id), []).append(
                    (record.at, record.decision_id)
                )
    reached: dict[tuple[str, str], float] = {}
    for event in events:
        if not isinstance(event, OfferFeedback) or _LEVEL[event.outcome] < _LEVEL[outcome]:
            continue
        name = event.decision_id or event.action_id
        if name is None:
            earlier = [
                (at, decision)
                for at, decision in shown.get((event.actor_id, event.offer_id), [])
                if 0 <= event.ts - at <= window_s
            ]
            name = max(earlier)[1] if earlier else None
        if name is not None:
            reached[(name, event.offer_id)] = 1.0
    return reached


def logged_decisions(
    records: Iterable[DecisionRecord], rewards: Mapping[tuple[str, str], float]
) -> list[Logged]:
    """The decisions an estimate can use: shown to the customer (not a control group's,
    not suppressed), with a propensity. Each record once, whatever the log repeated."""
    kept: dict[str, Logged] = {}
    for record in records:
        if record.control or record.suppressed or not record.chosen:
            continue
        if not record.propensity or not record.candidates or not record.features:
            continue
        first = record.chosen[0]
        kept[record.decision_id] = Logged(
            decision_id=record.decision_id,
            features=record.features,
            affinities=record.affinities,
            offers=[c.offer_id for c in record.candidates],
            probabilities=[c.probability for c in record.candidates],
            values=[c.value for c in record.candidates],
            chosen=first,
            propensity=record.propensity,
            reward=rewards.get((record.decision_id, first), 0.0),
        )
    return list(kept.values())


def greedy_under(
    predict: Callable[[np.ndarray], np.ndarray], catalog: Catalog | None = None
) -> Callable[[Sequence[Logged]], list[str]]:
    """The target policy of a recommender: the candidate of highest p x value, with the
    recommender's p for each candidate `catalog` (the served one) still describes, built
    from the logged features and affinities (actors.model.offer_features), and the
    logged p for one it no longer holds. `predict` maps recommender rows to p(accept)."""
    catalog = catalog or built_in()

    def first(logged: Sequence[Logged]) -> list[str]:
        picks = []
        for decision in logged:
            known = [i for i, o in enumerate(decision.offers) if catalog.get(o) is not None]
            p = list(decision.probabilities)
            if known:
                offers = [catalog.by_id[decision.offers[i]] for i in known]
                rows = pair_rows(decision.features, decision.affinities, offers)
                for i, value in zip(known, np.asarray(predict(rows), dtype=float), strict=True):
                    p[i] = float(value)
            best = max(range(len(decision.offers)), key=lambda i: (p[i] * decision.values[i], -i))
            picks.append(decision.offers[best])
        return picks

    return first


@dataclass(frozen=True, slots=True)
class Estimate:
    n: int
    matched: int  # decisions where the target would have shown what the logger did
    effective_sample_size: float
    logged_value: float  # the logging policy's own mean reward
    logged_value_ci: tuple[float, float]
    ips: float
    ips_ci: tuple[float, float]
    snips: float | None
    snips_ci: tuple[float, float] | None

    def to_dict(self) -> dict[str, object]:
        return {
            "decisions": self.n,
            "matched": self.matched,
            "effective_sample_size": round(self.effective_sample_size, 1),
            "logged_value": self.logged_value,
            "logged_value_ci": list(self.logged_value_ci),
            "ips": self.ips,
            "ips_ci": list(self.ips_ci),
            "snips": self.snips,
            "snips_ci": list(self.snips_ci) if self.snips_ci else None,
        }


def estimate(logged: Sequence[Logged], target_first: Sequence[str]) -> Estimate:
    """The value of the deterministic policy that puts `target_first[i]` first on
    decision i, from the log alone."""
    n = len(logged)
    if n == 0:
        raise ValueError("no logged decision with a propensity to estimate on")
    r = np.array([d.reward for d in logged])
    w = np.array(
        [
            (1.0 / d.propensity) if t == d.chosen else 0.0
            for d, t in zip(logged, target_first, strict=True)
        ]
    )
    wr = w * r
    ips = float(wr.mean())
    ips_half = Z95 * float(wr.std(ddof=1)) / math.sqrt(n) if n > 1 else math.inf
    logged_value = float(r.mean())
    logged_half = Z95 * float(r.std(ddof=1)) / math.sqrt(n) if n > 1 else math.inf
    snips: float | None = None
    snips_ci: tuple[float, float] | None = None
    if w.sum() > 0:
        snips = float(wr.sum() / w.sum())
        # Delta method for a ratio of means: var = E[w^2 (r - snips)^2] / (n E[w]^2).
        variance = float(np.mean(w**2 * (r - snips) ** 2) / (n * w.mean() ** 2))
        half = Z95 * math.sqrt(variance)
        snips_ci = (snips - half, snips + half)
    ess = float(w.sum() ** 2 / (w**2).sum()) if w.any() else 0.0
    return Estimate(
        n=n,
        matched=int((w > 0).sum()),
        effective_sample_size=ess,
        logged_value=logged_value,
        logged_value_ci=(logged_value - logged_half, logged_value + logged_half),
        ips=ips,
        ips_ci=(ips - ips_half, ips + ips_half),
        snips=snips,
        snips_ci=snips_ci,
    )
