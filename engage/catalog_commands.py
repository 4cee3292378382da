"""`engage catalog ...`: load a catalogue file (or check it), list what is served, roll
back, and read who changed what."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from actors.catalog.catalog import Catalog
from actors.catalog.offer import CatalogOffer
from actors.catalog.parsing import CatalogFileError, read_catalog_file
from actors.catalog.store import CatalogStore
from engage.operator import operator
from engage.segments_commands import rules_of
from engage.settings import Settings


def add_catalog_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    catalog = sub.add_parser("catalog", help="the offer catalogue (docs/catalog.md)")
    commands = catalog.add_subparsers(dest="catalog_command", required=True)
    load = commands.add_parser("load", help="serve a JSON-lines or CSV file as the catalogue")
    load.add_argument("file", type=Path)
    load.add_argument(
        "--dry-run", action="store_true", help="validate and print what would change; load nothing"
    )
    load.add_argument("--by", default=None, help="who loads it, for the audit (default: user@host)")
    listing = commands.add_parser("list", help="the offers served")
    listing.add_argument("--json", action="store_true", help="one JSON object per offer")
    rollback = commands.add_parser("rollback", help="serve the previous version again")
    rollback.add_argument("--by", default=None)
    history = commands.add_parser("history", help="who changed the catalogue, when and how")
    history.add_argument("--limit", type=int, default=20)


def _warn_of_undefined_segments(offers: list[CatalogOffer], settings: Settings) -> None:
    """An offer whose eligibility names a segment the rules in force do not define goes
    to nobody: loaded all the same (the rules may define it next), but said."""
    named = {offer.offer_id: offer.segments_named for offer in offers if offer.segments_named}
    if not named:
        return
    version, rules = rules_of(settings)
    defined = {segment.name for segment in rules.segments}
    for offer_id, segments in sorted(named.items()):
        for name in sorted(segments - defined):
            print(
                f"  warning: {offer_id}: eligibility names segment {name!r}, which rules "
                f"version {version} does not define: it goes to nobody until a version does"
            )


def catalog_command(args: argparse.Namespace, settings: Settings) -> int:
    store = CatalogStore.connect(settings.redis.require_url(), settings.redis.prefix)
    by = operator(getattr(args, "by", None))
    command = args.catalog_command
    if command == "load":
        try:
            offers = read_catalog_file(args.file)
        except CatalogFileError as error:
            print(error)
            return 1
        _warn_of_undefined_segments(offers, settings)
        current = store.current()
        change = current.change_to(Catalog.of(0, offers))
        counts = ", ".join(f"{len(ids)} {label}" for label, ids in change.summary().items())
        if args.dry_run:
            valid = f"{args.file}: {len(offers)} offers valid"
            print(f"{valid}; against version {current.version}: {counts}")
            for label, ids in change.summary().items():
                if ids:
                    print(f"  {label}: {', '.join(ids[:20])}{' ...' if len(ids) > 20 else ''}")
            return 0
        published = store.publish(offers, by=by, note=str(args.file))
        if published.version == current.version:
            print(f"catalogue unchanged (version {current.version})")
        else:
            print(f"catalogue version {published.version} served: {counts}")
        return 0
    if command == "list":
        served = store.current()
        now = time.time()
        for offer in served.offers:
            if args.json:
                print(offer.model_dump_json())
                continue
            state = "live" if offer.live_at(now) else "not live"
            print(
                f"{offer.offer_id:<24} {offer.domain:<10} {offer.value:>8.2f}  {state:<8} "
                f"{'|'.join(offer.categories):<30} {offer.title}"
            )
        if not args.json:
            print(f"version {served.version}: {len(served.offers)} offers")
        return 0
    if command == "rollback":
        published = store.rollback(by=by)
        print(f"catalogue version {published.version} served again: {published.change.summary()}")
        return 0
    for entry in store.audit(args.limit):
        print(json.dumps(entry))
    return 0
