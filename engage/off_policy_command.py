"""`engage models compare recommender --off-policy`: the champion and a candidate
recommender judged on the decision log before either is shadowed or promoted
(training.off_policy)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

import numpy as np

from actors.model.decision import DecisionRecord
from actors.model.events import Event, parse_event
from actors.model.model_names import RECOMMENDER
from engage.settings import Settings
from engage.training_commands import registry_of, served_catalog
from training.off_policy import estimate, greedy_under, logged_decisions, rewards_of
from training.registry import CHALLENGER, CHAMPION, ModelRegistry

DEFAULT_SINCE_S = 7 * 86_400.0


def compare_off_policy(args: argparse.Namespace, settings: Settings) -> int:
    if args.name != RECOMMENDER:
        print(
            f"--off-policy judges the {RECOMMENDER}: {args.name} makes no offers", file=sys.stderr
        )
        return 2
    broker = settings.event_broker()
    since = args.since if args.since is not None else time.time() - DEFAULT_SINCE_S
    records: list[DecisionRecord] = []
    broker.read_decisions(since, lambda _, raw: records.append(_decision(raw)), idle_timeout_s=30.0)
    feedback: list[Event] = []

    def keep(_: str, raw: bytes) -> None:
        if b"offer_feedback" in raw:  # the log is mostly other events: parse only these
            feedback.append(parse_event(raw))

    broker.read_events(since, keep)
    logged = logged_decisions(records, rewards_of(feedback, args.reward, records))
    if not logged:
        print(
            f"no logged decision with a propensity since {time.ctime(since)} "
            f"({len(records)} records read)",
            file=sys.stderr,
        )
        return 1
    registry = registry_of(settings)
    catalog = served_catalog(settings)
    report: dict[str, Any] = {
        "decisions_read": len(records),
        "reward": args.reward,
        "explored": sum(1 for r in records if r.explored),
    }
    for role, version in _versions(registry, args.candidate).items():
        picks = greedy_under(_predictor(registry, version), catalog)(logged)
        report[role] = {"version": version, **estimate(logged, picks).to_dict()}
    print(json.dumps(report, indent=2))
    return 0


def _decision(raw: bytes) -> DecisionRecord:
    # The log carries each record inside its action envelope (actors.model.actions).
    return DecisionRecord.model_validate(json.loads(raw)["decision"])


def _versions(registry: ModelRegistry, candidate: int | None) -> dict[str, int]:
    versions = {}
    champion = registry.alias(RECOMMENDER, CHAMPION)
    if champion is not None:
        versions["champion"] = champion
    chosen = candidate if candidate is not None else registry.alias(RECOMMENDER, CHALLENGER)
    if chosen is not None:
        versions["candidate"] = chosen
    return versions


def _predictor(registry: ModelRegistry, version: int) -> Any:
    _, estimator = registry.load(RECOMMENDER, version)

    def predict(rows: np.ndarray) -> np.ndarray:
        return np.asarray(estimator.predict_proba(rows)[:, 1])

    return predict
