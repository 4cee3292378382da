"""What audiences and journeys add to a customer's turn, as a ratio in one process.

The same events go through the customer actor's turn (actors.turn.actor.CustomerActor)
twice over: with the shipped rules, and with the shipped rules plus the retail worked
campaign's three segments and its cart journey (docs/campaigns/retail.yaml). Scores come
from a scorer that answers at once, so the figure is the turn's own work: segments
evaluated and saved, journey runs entered, waited and ended. Runs alternate, three of
each, and the median of each is kept.

    .venv/bin/python bench/campaign_turn.py [--customers 2000] [--events 12]

The last line printed is one JSON object of figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from actors.model.events import Event, parse_event
from actors.model.offer_features import blocks_in
from actors.model.state import CustomerState
from actors.rules.ruleset import load_rules, parse_rules
from actors.turn.actor import CustomerActor
from actors.turn.scoring import Score

ROOT = Path(__file__).resolve().parents[1]
T0 = 1_796_000_000.0


class InstantScorer:
    """Fixed scores, no wait: the turn's own cost is what is measured."""

    async def score(self, model: str, rows: Sequence[Sequence[float]]) -> list[Score]:
        if model == "recommender":  # 0.2 for every offer the turn asks about
            return [Score(model, "1", (0.2,) * blocks_in(row)) for row in rows]
        return [Score(model, "1", (0.1,)) for _ in rows]


def stream(customers: int, per_customer: int, seed: int = 7) -> list[Event]:
    """Shopping sessions: views, cart adds, some purchases, in time order per customer."""
    rng = random.Random(seed)
    events = []
    n = 0
    for c in range(customers):
        at = T0 + rng.uniform(0, 3600)
        for _ in range(per_customer):
            n += 1
            at += rng.uniform(5, 120)
            kind = rng.choices(["product_view", "cart_add", "purchase", "page_view"], [6, 2, 1, 1])
            body: dict[str, Any] = {
                "type": kind[0],
                "event_id": f"e{n}",
                "customer_id": f"c{c:05d}",
                "timestamp": at,
            }
            if kind[0] in ("product_view", "cart_add"):
                body |= {"product_id": f"p{rng.randrange(50)}", "category": "electronics"}
                body["price"] = round(rng.uniform(5, 300), 2)
            elif kind[0] == "purchase":
                body |= {"order_id": f"o{n}", "total": round(rng.uniform(10, 400), 2)}
            else:
                body["url"] = "/"
            events.append(parse_event(json.dumps(body).encode()))
    return events


def with_campaign() -> str:
    shipped = yaml.safe_load((ROOT / "actors/rules/rulesets/default.yaml").read_text())
    retail = yaml.safe_load((ROOT / "docs/campaigns/retail.yaml").read_text())
    shipped["segments"] = retail["segments"]
    shipped["journeys"] = retail["journeys"]
    return yaml.safe_dump(shipped)


def run(actor: CustomerActor, events: list[Event]) -> tuple[float, int]:
    """Seconds for every turn, and the journey counters the turns wrote."""
    states: dict[str, CustomerState] = {}

    async def turns() -> int:
        counted = 0
        for event in events:
            state = states.setdefault(event.actor_id, CustomerState())
            outcome = await actor.on_event(event.actor_id, state, event)
            counted += sum(1 for c in outcome.counters if c.startswith("journey|"))
        return counted

    started = time.perf_counter()
    counted = asyncio.run(turns())
    return time.perf_counter() - started, counted


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument("--events", type=int, default=12, help="per customer")
    args = parser.parse_args()
    events = stream(args.customers, args.events)
    clock = lambda: T0 + 7200  # noqa: E731 (a fixed wall clock: waits are set, not run)
    plain = CustomerActor(load_rules(), InstantScorer(), clock=clock, trace=False)
    campaign = CustomerActor(
        parse_rules(with_campaign()), InstantScorer(), clock=clock, trace=False
    )
    times: dict[str, list[float]] = {"plain": [], "campaign": []}
    counters = 0
    for _ in range(3):
        times["plain"].append(run(plain, events)[0])
        took, counters = run(campaign, events)
        times["campaign"].append(took)
    plain_s, campaign_s = statistics.median(times["plain"]), statistics.median(times["campaign"])
    figures = {
        "events": len(events),
        "customers": args.customers,
        "plain_us_per_event": round(plain_s / len(events) * 1e6, 1),
        "campaign_us_per_event": round(campaign_s / len(events) * 1e6, 1),
        "campaign_over_plain": round(campaign_s / plain_s, 3),
        "journey_counters_written": counters,
    }
    print(
        f"{len(events):,} events: shipped rules {figures['plain_us_per_event']} us/event, "
        f"with 3 segments and the cart journey {figures['campaign_us_per_event']} us/event "
        f"({figures['campaign_over_plain']}x)"
    )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
