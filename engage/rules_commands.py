"""`engage rules ...`: check a rules file offline; push it as the version every shard runs,
list the versions kept, show one, diff a file against the version in force, roll back."""

from __future__ import annotations

import argparse
import difflib
import json
import sys
import time
from importlib import resources
from pathlib import Path

from actors.campaigns.rules_store import NoPreviousRulesError, RulesStore
from actors.errors import RuleError, RulesRefusedError
from actors.rules.ruleset import RuleSet, load_rules
from engage.operator import operator
from engage.settings import Settings
from engage.training_commands import add_source_arguments


def add_rules_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    rules = sub.add_parser("rules", help="rules: check, push, list, show, diff, rollback")
    commands = rules.add_subparsers(dest="rules_command", required=True)
    check = commands.add_parser("check", help="validate a rules file offline")
    check.add_argument("file")
    push = commands.add_parser("push", help="put a rules file in force on every shard")
    push.add_argument("file", type=Path)
    push.add_argument("--comment", "-m", default="", help="why: kept with the version")
    push.add_argument("--by", default=None, help="who pushes it (default: user@host)")
    listing = commands.add_parser("list", help="the versions kept, newest first")
    listing.add_argument("--limit", type=int, default=20)
    show = commands.add_parser("show", help="a version's YAML (default: the one in force)")
    show.add_argument("version", type=int, nargs="?", default=None)
    diff = commands.add_parser("diff", help="a file against the version in force")
    diff.add_argument("file", type=Path)
    backtest = commands.add_parser(
        "backtest", help="what a rules file would have done on collected events, vs live"
    )
    backtest.add_argument("file", type=Path)
    add_source_arguments(backtest, default="broker")
    rollback = commands.add_parser("rollback", help="the previous version back in force")
    rollback.add_argument("--comment", "-m", default="")
    rollback.add_argument("--by", default=None)


def _faults(source: object, error: RuleError) -> list[str]:
    faults = error.faults if isinstance(error, RulesRefusedError) else [error]
    return [f"{source}: rule {f.rule!r}, field {f.field!r}: {f.reason}" for f in faults]


def rules_in_force(store: RulesStore, settings: Settings) -> tuple[int, RuleSet]:
    """The version every shard runs (0: none pushed, the deployment's rules file or the
    shipped rules) and its rules, compiled."""
    current = store.current_version()
    if current:
        return current, store.load(current).compile()
    return 0, load_rules(settings.actors.rules_file)


def _in_force(store: RulesStore, settings: Settings) -> tuple[str, str]:
    """What every shard runs now, and its text: the version in force, or (none pushed)
    the deployment's rules file, or the shipped rules."""
    current = store.current_version()
    if current:
        return f"version {current}", store.load(current).text
    path = settings.actors.rules_file
    if path:
        return f"no version pushed: the rules file {path}", Path(path).read_text()
    shipped = resources.files("actors.rules").joinpath("rulesets/default.yaml").read_text()
    return "no version pushed: the shipped rules", shipped


def _when(at: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(at))


def rules_command(args: argparse.Namespace, settings: Settings) -> int:
    command = args.rules_command
    if command == "check":
        try:
            rules = load_rules(args.file)
            if rules.own_models:
                # A model of the team's own is known to the registry, in the store's Redis
                # (asked only then: a file of engage's models alone is checked offline);
                # with none to ask, no name of one can be taken as known.
                url = settings.redis.url
                store = RulesStore.connect(url, settings.redis.prefix) if url else None
                registered = store.registered_models() if store else frozenset()
                rules = load_rules(args.file, registered)
        except RuleError as error:
            print("\n".join(_faults(args.file, error)))
            return 1
        print(
            f"{args.file}: {len(rules.rules)} rules, {len(rules.reminders)} reminders, "
            f"{len(rules.segments)} segments, {len(rules.journeys)} journeys: OK"
        )
        return 0
    store = RulesStore.connect(settings.redis.require_url(), settings.redis.prefix)
    by = operator(getattr(args, "by", None))
    if command == "push":
        try:
            pushed, created = store.push(args.file.read_text(), by, args.comment)
        except RuleError as error:
            print("\n".join(_faults(args.file, error)))
            print("refused: nothing was pushed")
            return 1
        if not created:
            print(f"rules unchanged: {args.file} is version {pushed.version}, in force")
        else:
            print(f"rules version {pushed.version} pushed: every shard runs it within seconds")
        return 0
    if command == "list":
        current = store.current_version()
        versions = store.versions(args.limit)
        if not versions:
            print("no version pushed: each shard runs the deployment's rules file")
        rolled_back = {r["from"]: r for r in store.rollbacks(args.limit)}
        for v in versions:
            mark = "*" if v.version == current else " "
            print(f"{mark} v{v.version:<4} {_when(v.at)}  {v.by:<24} {v.comment}")
            undone = rolled_back.get(v.version)
            if undone is not None:
                why = f": {undone['comment']}" if undone["comment"] else ""
                print(f"         rolled back {_when(undone['at'])} by {undone['by']}{why}")
        return 0
    if command == "show":
        if args.version is not None and args.version != 0:
            print(store.load(args.version).text, end="")
            return 0
        label, text = _in_force(store, settings)
        print(f"# {label}", file=sys.stderr)
        print(text, end="")
        return 0
    if command == "diff":
        label, before = _in_force(store, settings)
        after = args.file.read_text()
        lines = difflib.unified_diff(
            before.splitlines(keepends=True),
            after.splitlines(keepends=True),
            fromfile=label,
            tofile=str(args.file),
        )
        text = "".join(lines)
        print(text if text else f"{args.file} is {label}", end="" if text else "\n")
        return 0
    if command == "backtest":
        return _backtest(args, settings, store)
    if command == "rollback":
        try:
            found = store.rollback(by, args.comment)
        except NoPreviousRulesError:
            print(
                "no earlier version is kept: this is the first version pushed; to run the "
                "deployment's rules file again, push it (engage rules push FILE)"
            )
            return 1
        print(f"rules version {found.version} back in force (pushed by {found.by})")
        return 0
    raise AssertionError(command)


def _backtest(args: argparse.Namespace, settings: Settings, store: RulesStore) -> int:
    import asyncio

    from actors.model.model_names import MODEL_NAMES
    from engage.backtest import (
        ChampionScorer,
        Outcomes,
        compare,
        figures,
        replay,
        sources,
        table,
    )
    from engage.training_commands import load_source, registry_of
    from serving.models import load_served

    try:
        candidate = load_rules(args.file)
    except RuleError as error:
        print("\n".join(_faults(args.file, error)))
        return 1
    current, live = rules_in_force(store, settings)
    live_name = (
        f"version {current}" if current else settings.actors.rules_file or "the shipped rules"
    )
    data = load_source(args, settings)
    events = sorted(data.events, key=lambda e: e.ts)
    registry = registry_of(settings)
    names = {*MODEL_NAMES, *candidate.own_models, *live.own_models}
    champions = {name: registry.alias(name, "champion") for name in sorted(names)}
    scorer = ChampionScorer(
        {name: load_served(registry, name, v) for name, v in champions.items() if v is not None}
    )
    outcomes = Outcomes(events, candidate.policy.attribution_window)
    mine = figures(asyncio.run(replay(events, candidate, scorer, data.as_of)), outcomes)
    theirs = figures(asyncio.run(replay(events, live, scorer, data.as_of)), outcomes)
    rows = compare(mine, theirs, sources(candidate) | sources(live))
    print(f"{args.file} against {live_name}, on {len(events):,} events:")
    table(rows, print)
    summary = {
        "candidate": str(args.file),
        "live": live_name,
        "events": len(events),
        "customers": len({e.actor_id for e in events}),
        "source": data.source.get("kind"),
        "as_of": data.as_of,
        "rules": rows,
    }
    print(json.dumps(summary))
    return 0
