"""The models a process serves, and scoring a batch of requests with them.

A `ModelSet` holds the champion and challenger of each model and is never changed in
place: a swap builds a new set and replaces the reference, and `score_batch` reads the
reference once, so a batch is never scored by two versions.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from actors.errors import EngageError, ModelError
from actors.turn.scoring import Score
from serving.models import ServedModel, load_served
from training.registry import CHALLENGER, CHAMPION, ModelRegistry


class ModelSet:
    """The models one replica serves; replaced whole, never mutated in place."""

    def __init__(
        self,
        champions: dict[str, ServedModel] | None = None,
        challengers: dict[str, ServedModel] | None = None,
    ) -> None:
        self.champions = dict(champions or {})
        self.challengers = dict(challengers or {})

    def versions(self) -> dict[str, dict[str, str | None]]:
        names = sorted(set(self.champions) | set(self.challengers))
        return {
            name: {
                CHAMPION: self.champions[name].version if name in self.champions else None,
                CHALLENGER: self.challengers[name].version if name in self.challengers else None,
            }
            for name in names
        }


def load_model_set(registry: ModelRegistry, current: ModelSet | None = None) -> ModelSet:
    """Load every alias from the registry, reusing models already loaded."""
    loaded: dict[tuple[str, str], ServedModel] = {}
    if current is not None:
        for model in [*current.champions.values(), *current.challengers.values()]:
            loaded[(model.name, model.version)] = model
    result = ModelSet()
    for name in registry.names():
        for alias, target in ((CHAMPION, result.champions), (CHALLENGER, result.challengers)):
            version = registry.alias(name, alias)
            if version is None:
                continue
            key = (name, str(version))
            if key not in loaded:
                loaded[key] = load_served(registry, name, version)
            target[name] = loaded[key]
    return result


Shadow = tuple[str, str, str, tuple[float, ...], tuple[float, ...]]


def score_batch(
    models: ModelSet, requests: Sequence[tuple[str, Sequence[Sequence[float]]]]
) -> tuple[list[list[Score] | EngageError], list[Shadow]]:
    """Score many requests; returns per-request scores (or an error) and shadow pairs."""
    by_model: dict[str, list[int]] = {}
    for i, (name, _) in enumerate(requests):
        by_model.setdefault(name, []).append(i)
    answers: list[list[Score] | EngageError] = [[] for _ in requests]
    shadow: list[Shadow] = []
    for name, indices in by_model.items():
        champion = models.champions.get(name)
        if champion is None:
            for i in indices:
                answers[i] = ModelError(name, "no champion is registered")
            continue
        rows = [row for i in indices for row in requests[i][1]]
        try:
            predictions = champion.predict(rows)
        except Exception as error:  # a model's fault fails its own requests, no other's
            fault = error if isinstance(error, EngageError) else ModelError(name, repr(error))
            for i in indices:
                answers[i] = fault
            continue
        position = 0
        for i in indices:
            n = len(requests[i][1])
            answers[i] = [
                Score(name, champion.version, values)
                for values in predictions[position : position + n]
            ]
            position += n
        challenger = models.challengers.get(name)
        if challenger is not None and rows:
            try:
                shadowed = challenger.predict(rows)
            except Exception:  # the challenger only shadows: its fault
                # costs the comparison these rows, never the champion's answers.
                continue
            for mine, theirs in zip(predictions, shadowed, strict=True):
                if mine:  # a recommender asked about no offer: nothing to compare
                    shadow.append((name, champion.version, challenger.version, mine, theirs))
    return answers, shadow


def shadow_record(
    at: float, champion: str, challenger: str, mine: tuple[float, ...], theirs: tuple[float, ...]
) -> dict[str, Any]:
    """One comparison: the score of a single-valued model, or the top offer and its p."""
    record: dict[str, Any] = {"at": at, "champion": champion, "challenger": challenger}
    if len(mine) == 1:
        record.update(champion_score=mine[0], challenger_score=theirs[0])
    else:
        top_mine = max(range(len(mine)), key=mine.__getitem__)
        top_theirs = max(range(len(theirs)), key=theirs.__getitem__)
        record.update(
            champion_top=top_mine,
            challenger_top=top_theirs,
            champion_score=mine[top_mine],
            challenger_score=theirs[top_theirs],
        )
    return record
