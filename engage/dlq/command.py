"""`engage dlq list|show|replay`: the events and actions dead letters on either broker,
chosen by id, reason, time or customer, and replayed into the main stream at most once
per record (engage.dlq.replay)."""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import redis

from actors.brokers.dead_letter_log import KINDS, DeadLetter, DeadLetterLog
from engage.dlq.marks import RedisMarks
from engage.dlq.outbox import RedisOutbox
from engage.dlq.replay import Choice, Outcome, Replayer, chosen, marks_of, when
from engage.settings import Settings
from engage.training_commands import parse_when

# A read takes at most this many dead letters from the broker (RabbitMQ holds every one
# it browses unacknowledged until the read ends).
DEFAULT_SCAN = 10_000


def add_dlq_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    dlq = sub.add_parser("dlq", help="dead letters: list, show, replay")
    commands = dlq.add_subparsers(dest="dlq_command", required=True)

    listing = commands.add_parser("list", help="the dead letters, oldest first")
    listing.add_argument("kind", choices=KINDS, nargs="?", default="events")
    _choice_arguments(listing)
    listing.add_argument("--json", action="store_true", help="one JSON document per line")

    show = commands.add_parser("show", help="one dead letter: headers and raw value")
    show.add_argument("kind", choices=KINDS)
    show.add_argument("id", help="as `engage dlq list` prints it")
    show.add_argument("--scan", type=int, default=DEFAULT_SCAN, help=argparse.SUPPRESS)

    replay = commands.add_parser(
        "replay", help="put dead letters back into the main stream, each at most once"
    )
    replay.add_argument("kind", choices=KINDS)
    _choice_arguments(replay)
    replay.add_argument("--all", action="store_true", help="every dead letter not replayed")
    replay.add_argument(
        "--dry-run", action="store_true", help="say what would be replayed; change nothing"
    )


def _choice_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--id", action="append", default=[], help="this record (repeatable)")
    parser.add_argument("--reason", help="reasons containing this text (any case)")
    parser.add_argument("--since", type=parse_when, help="failed at or after (ISO, epoch, 2h)")
    parser.add_argument("--until", type=parse_when, help="failed before (ISO, epoch, 2h)")
    parser.add_argument("--customer", help="this customer's records")
    parser.add_argument("--limit", type=int, default=100, help="at most this many (100)")
    parser.add_argument(
        "--scan", type=int, default=DEFAULT_SCAN, help="read at most this many from the broker"
    )


def _choice(args: argparse.Namespace) -> Choice:
    return Choice(
        ids=frozenset(args.id),
        reason=args.reason,
        since=args.since,
        until=args.until,
        customer=args.customer,
    )


@contextmanager
def _redis(settings: Settings) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(
        settings.redis.require_url(), socket_timeout=10, socket_connect_timeout=10
    )
    try:
        yield client
    finally:
        client.close()


def dlq_command(args: argparse.Namespace, settings: Settings) -> int:
    broker = settings.event_broker()
    try:
        log = broker.dead_letter_log(args.kind)
        with _redis(settings) as client:
            marks = RedisMarks(client, settings.redis.prefix)
            if args.dlq_command == "list":
                return _list(args, log, marks)
            if args.dlq_command == "show":
                return _show(args, log, marks)
            outbox = RedisOutbox(client, settings.redis.prefix, settings.actors.slots)
            return _replay(args, Replayer(log, marks, outbox))
    finally:
        broker.close()


def _list(args: argparse.Namespace, log: DeadLetterLog, marks: RedisMarks) -> int:
    letters = chosen(log, _choice(args), args.limit, args.scan)
    found = marks_of(log, marks, letters)
    for letter in letters:
        mark = found.get(letter.id)
        status = mark.state if mark is not None else "dead"
        if args.json:
            print(json.dumps({**_summary(letter), "status": status}, sort_keys=True))
        else:
            print(
                f"{letter.id:<12} {when(letter.failed_at)}  {status:<9} "
                f"{letter.customer or '-':<24} {letter.reason}"
            )
    if not args.json:
        print(f"{len(letters)} dead letter(s) on {log.where}", file=sys.stderr)
    return 0


def _show(args: argparse.Namespace, log: DeadLetterLog, marks: RedisMarks) -> int:
    letters = chosen(log, Choice(ids=frozenset([args.id])), 1, args.scan)
    if not letters:
        print(f"engage: no dead letter {args.id} on {log.where}", file=sys.stderr)
        return 1
    (letter,) = letters
    mark = marks_of(log, marks, letters).get(letter.id)
    document: dict[str, Any] = {
        **_summary(letter),
        "status": mark.state if mark is not None else "dead",
        "headers": letter.headers,
    }
    try:
        document["value"] = json.loads(letter.value)
    except ValueError:
        document["raw_value"] = letter.value.decode(errors="replace")
    print(json.dumps(document, indent=2, sort_keys=True))
    return 0


def _replay(args: argparse.Namespace, replayer: Replayer) -> int:
    choice = _choice(args)
    if choice == Choice() and not args.all:
        print(
            "engage: say which dead letters to replay (--id, --reason, --since, --until, "
            "--customer) or --all",
            file=sys.stderr,
        )
        return 2
    letters = chosen(replayer.log, choice, args.limit, args.scan)

    def told(outcome: Outcome) -> None:
        print(f"{outcome.letter.id:<12} {outcome.verdict}: {outcome.detail}")

    outcomes = replayer.replay(letters, dry_run=args.dry_run, told=told)
    counts = Counter(outcome.verdict for outcome in outcomes)
    summary = ", ".join(f"{n} {verdict}" for verdict, n in sorted(counts.items())) or "nothing"
    print(f"{summary} (of {replayer.log.where})", file=sys.stderr)
    return 0


def _summary(letter: DeadLetter) -> dict[str, Any]:
    return {
        "kind": letter.kind,
        "id": letter.id,
        "failed_at": letter.failed_at,
        "customer": letter.customer,
        "reason": letter.reason,
        "replay_of": letter.replays or None,
        "bytes": len(letter.value),
    }
