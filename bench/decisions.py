"""What the decision policy achieves in a simulated run, against what the simulator knows.

Customers meet the demo catalogue's offers; each accepts an offer with a true probability
only the simulator knows, and converts without any offer at a baseline rate. The champion
recommender sees those probabilities through noise (a model's error); a candidate
retrained on more data sees them with less. Each decision goes through engage's own
parts: the global control group (actors.outcomes.attribution), the exploration draw
(actors.decisions.exploration), the outcome counters and their intervals
(actors.outcomes.reports), and the off-policy estimates of the champion's and the
candidate's greedy policies on the logged decisions (training.off_policy).

It reports the programme's uplift against the global control with its interval beside
the true uplift, and each policy's estimated value beside its true value.

    .venv/bin/python bench/decisions.py [--decisions 20000] [--exploration 0.1]

The last line printed is one JSON object of figures.
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from actors.decisions.exploration import choose
from actors.model.catalog import OFFERS
from actors.outcomes.attribution import in_global_control
from actors.outcomes.reports import report
from training.off_policy import Logged, estimate

BASELINE = 0.03  # converts anyway, offer or not
GLOBAL_CONTROL = 0.1


def run(decisions: int, exploration: float, seed: int) -> dict[str, object]:
    rng = np.random.default_rng(seed)
    k = len(OFFERS)
    values = np.array([o.value for o in OFFERS])
    traits = rng.normal(size=(decisions, 3))
    weights = rng.normal(size=(k, 3))
    truth = 1 / (1 + np.exp(-(traits @ weights.T - 3.0)))  # p(accept), known only here
    champion = np.clip(truth + rng.normal(0, 0.05, truth.shape), 0, 1)
    candidate = np.clip(truth + rng.normal(0, 0.01, truth.shape), 0, 1)
    counters: dict[str, int] = {}
    logged: list[Logged] = []
    champion_picks, candidate_picks = [], []
    true_value = {"champion": 0.0, "candidate": 0.0}
    true_uplift = 0.0
    treated = 0
    for i in range(decisions):
        customer = f"c{i}"
        order = list(np.argsort(-(champion[i] * values), kind="stable"))
        choice = choose(k, 1, exploration, customer)
        shown = order[choice.order[0]]
        arm = "global_control" if in_global_control(customer, GLOBAL_CONTROL) else "treated"
        accepted = arm == "treated" and rng.random() < truth[i, shown]
        converted = accepted or rng.random() < BASELINE
        for metric, happened in (("sent", True), ("converted", converted)):
            if happened:
                name = f"{metric}|{arm}|next_best_offer||{OFFERS[shown].offer_id}|1"
                counters[name] = counters.get(name, 0) + 1
        if arm == "treated":
            treated += 1
            true_uplift += (1 - BASELINE) * truth[i, shown]
            logged.append(
                Logged(
                    customer,
                    [],
                    {},
                    [OFFERS[j].offer_id for j in order],
                    [float(champion[i, j]) for j in order],
                    [float(values[j]) for j in order],
                    OFFERS[shown].offer_id,
                    choice.propensities[choice.order[0]],
                    float(accepted),
                )
            )
            best = {
                "champion": int(np.argmax(champion[i] * values)),
                "candidate": int(np.argmax(candidate[i] * values)),
            }
            champion_picks.append(OFFERS[best["champion"]].offer_id)
            candidate_picks.append(OFFERS[best["candidate"]].offer_id)
            for role, j in best.items():
                true_value[role] += truth[i, j]
    (programme,) = report(counters, "programme")
    figures: dict[str, object] = {
        "decisions": decisions,
        "exploration": exploration,
        "global_control_share": GLOBAL_CONTROL,
        "treated": treated,
        "global_control": programme["global_control"]["sent"],
        "conversion_rate": round(programme["conversion_rate"], 4),
        "global_control_conversion_rate": round(programme["global_control_conversion_rate"], 4),
        "uplift": round(programme["uplift_vs_global_control"], 4),
        "uplift_ci": programme["uplift_ci_vs_global_control"],
        "true_uplift": round(true_uplift / treated, 4),
    }
    for role, picks in (("champion", champion_picks), ("candidate", candidate_picks)):
        found = estimate(logged, picks)
        figures[role] = {
            "true_value": round(true_value[role] / treated, 4),
            "ips": round(found.ips, 4),
            "ips_ci": [round(x, 4) for x in found.ips_ci],
            "snips": round(found.snips or 0.0, 4),
            "snips_ci": [round(x, 4) for x in found.snips_ci or (0.0, 0.0)],
            "matched": found.matched,
        }
    figures["logged_value"] = round(float(np.mean([d.reward for d in logged])), 4)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--decisions", type=int, default=20_000)
    parser.add_argument("--exploration", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    print(json.dumps(run(args.decisions, args.exploration, args.seed)))


if __name__ == "__main__":
    main()
