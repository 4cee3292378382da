"""`engage simulate`: the demo's synthetic traffic, and the outcomes that follow it, sent
to the event broker in use (engage.simulate)."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable

from engage.settings import Settings
from training.live_traffic import LAPSED_SHARE


def share_of(what: str, zero_allowed: bool) -> Callable[[str], float]:
    """An argparse type for a share of `what`: at most 1, and more than 0 unless zero is
    allowed."""
    low = "[0" if zero_allowed else "(0"

    def parse(value: str) -> float:
        share = float(value)
        if not (share >= 0 if zero_allowed else share > 0) or share > 1:
            raise argparse.ArgumentTypeError(f"{value} is not a share of {what} in {low}, 1]")
        return share

    return parse


def add_simulate_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    simulate = sub.add_parser(
        "simulate", help="send synthetic traffic to the event broker (ENGAGE_BROKER)"
    )
    simulate.add_argument("--rate", type=float, default=200.0)
    simulate.add_argument("--customers", type=int, default=1000)
    simulate.add_argument("--duration", type=float, default=None)
    simulate.add_argument(
        "--outcome-delay-scale",
        type=float,
        default=1 / 6000,
        help="the demo clock for outcomes: their real delays (a fraud report within hours, "
        "a chargeback within days) times this; the default passes a week in about 100 s",
    )
    simulate.add_argument(
        "--drift",
        choices=("takeover",),
        default=None,
        help="a pattern the first models never saw: takeover (account takeovers, failed "
        "logins then ordinary payments, reported like other fraud)",
    )
    simulate.add_argument(
        "--drift-share",
        type=share_of("sessions", zero_allowed=False),
        default=0.15,
        help="the share of banking customers' sessions the drift takes (default 0.15)",
    )
    simulate.add_argument(
        "--lapsed-share",
        type=share_of("customers", zero_allowed=True),
        default=LAPSED_SHARE,
        help="the share of customers who arrive lapsed, last seen 60 to 120 days ago: "
        "their return earns a win-back offer, and those who would come back order again "
        "on the demo clock (default 0.1)",
    )


def simulate_command(args: argparse.Namespace, settings: Settings) -> int:
    from engage.simulate import TrafficProducer

    producer = TrafficProducer(
        settings,
        rate=args.rate,
        customers=args.customers,
        outcome_delay_scale=args.outcome_delay_scale,
        takeover_share=args.drift_share if args.drift == "takeover" else 0.0,
        lapsed_share=args.lapsed_share,
    )
    last = [0.0]

    def progress(sent: int) -> None:
        now = time.monotonic()
        if now - last[0] >= 1.0:
            last[0] = now
            print(f"\rsent {sent:,} events", end="", file=sys.stderr, flush=True)

    try:
        sent = producer.run(args.duration, on_tick=progress)
    except KeyboardInterrupt:
        sent = producer.sent
    print(
        f"\rsent {sent:,} events ({producer.outcomes_sent:,} of them outcomes; "
        f"{producer.traffic.pending:,} outcomes not yet due)",
        file=sys.stderr,
    )
    return 0
