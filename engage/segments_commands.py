"""`engage segments ...`: the audiences of the rules in force, how many customers each
holds now, and their members exported from the state store while traffic flows."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TextIO

from actors.campaigns.audiences import AudienceStore
from actors.campaigns.rules_store import RulesStore
from actors.rules.ruleset import RuleSet
from engage.rules_commands import rules_in_force
from engage.settings import Settings


def add_segments_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    segments = sub.add_parser("segments", help="audiences: list with live counts, export")
    commands = segments.add_subparsers(dest="segments_command", required=True)
    commands.add_parser("list", help="the segments of the rules in force, with members now")
    export = commands.add_parser("export", help="the customer ids in a segment, one per line")
    export.add_argument("name")
    export.add_argument("--out", type=Path, default=None, help="a file (default: stdout)")


def rules_of(settings: Settings) -> tuple[int, RuleSet]:
    """The rules version every shard runs, and its rules."""
    store = RulesStore.connect(settings.redis.require_url(), settings.redis.prefix)
    return rules_in_force(store, settings)


def segments_command(args: argparse.Namespace, settings: Settings) -> int:
    version, rules = rules_of(settings)
    names = [segment.name for segment in rules.segments]
    audiences = AudienceStore.connect(
        settings.redis.require_url(), settings.redis.prefix, settings.actors.slots
    )
    try:
        if args.segments_command == "list":
            if not names:
                print(f"rules version {version} defines no segments")
                return 0
            counts = audiences.counts(names)
            print(f"{'segment':<28} {'members':>9}  condition (rules version {version})")
            for segment in rules.segments:
                print(f"{segment.name:<28} {counts[segment.name]:>9}  {segment.condition.source}")
            return 0
        if args.name not in names:
            known = ", ".join(names) or "none defined"
            print(f"no segment named {args.name!r} in rules version {version} ({known})")
            return 1
        if args.out is None:
            try:
                exported = _export(audiences, args.name, sys.stdout)
            except BrokenPipeError:  # `| head`: the reader has what it wanted
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
                return 0
        else:
            with args.out.open("w") as out:
                exported = _export(audiences, args.name, out)
        print(f"{exported} customers in {args.name}", file=sys.stderr)
        return 0
    finally:
        audiences.close()


def _export(audiences: AudienceStore, name: str, out: TextIO) -> int:
    count = 0
    for customer_id in audiences.members(name):
        out.write(customer_id + "\n")
        count += 1
    return count
