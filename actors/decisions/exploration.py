"""Exploration: a share of decisions puts a drawn offer first instead of the best.

Greedy ranking never learns about an offer the model rates low or has not seen: it is
never shown, so it never gets feedback. Epsilon-greedy keeps the learning going at a
stated cost: with probability `share` the first offer is drawn uniformly from every
eligible candidate (the best included), otherwise it is the best by expected value. So a
new offer is shown from its first hour, and every choice has a known propensity,
(1 - share) x [it is the best] + share / n, which the decision log keeps for off-policy
estimates (training.off_policy).

The draw is a hash of the decision's key, not a random generator: a replayed turn
decides the same, and a next-best-offer answer's draw is fixed by its decision id.
Only the first offer explores; the offers after it follow in order of expected value.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Choice:
    """The order offers are shown in, with each candidate's propensity to be first."""

    order: list[int]  # indexes into the candidates, first shown first
    propensities: list[float]  # per candidate, in the candidates' order
    explored: bool
    share: float

    @property
    def propensity(self) -> float | None:
        return self.propensities[self.order[0]] if self.order else None


def uniform(key: str, salt: str) -> float:
    """A number in [0, 1) fixed by `key`: the same in every process and on every replay."""
    digest = hashlib.sha256(f"{salt}\x1f{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def choose(n: int, k: int, share: float, key: str) -> Choice:
    """The first `k` of `n` candidates (ranked best first) to show, the first one drawn
    with probability `share`."""
    if n == 0:
        return Choice([], [], False, share)
    share = share if n > 1 else 0.0
    propensities = [share / n] * n
    propensities[0] += 1.0 - share
    first = 0
    if share > 0.0 and uniform(key, "explore") < share:
        first = min(int(uniform(key, "draw") * n), n - 1)
    rest = [i for i in range(n) if i != first]
    order = [first, *rest[: max(k, 1) - 1]]
    return Choice(order, propensities, first != 0, share)
