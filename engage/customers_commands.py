"""`engage customers export ID`: everything engage keeps about a person, as one JSON
document (serving.subject_access), for a data subject's access request."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from actors.delivery.guardrails import RedisGuardrailStore
from actors.storage.redis_store import RedisStateStore
from actors.storage.slots import slot_of
from engage.settings import Settings
from serving.subject_access import subject_access


def add_customers_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    customers = sub.add_parser("customers", help="a person's data, on their request")
    commands = customers.add_subparsers(dest="customers_command", required=True)
    export = commands.add_parser(
        "export", help="everything kept about a customer and the visitors merged into it"
    )
    export.add_argument("customer", help="a customer's id, or a visitor's (anon:...)")
    export.add_argument("--out", type=Path, default=None, help="write here, not to stdout")


def export_document(settings: Settings, customer_id: str) -> dict[str, Any]:
    async def body() -> dict[str, Any]:
        store = RedisStateStore(settings.redis.require_url(), settings.redis.prefix)
        try:
            slots = settings.actors.slots
            # A visitor merged into a customer: the person is that customer.
            linked = await store.linked_to(slot_of(customer_id, slots), customer_id)
            guards = RedisGuardrailStore(store.redis, store.keys)
            return await subject_access(store, guards, slots, linked or customer_id)
        finally:
            await store.close()

    return asyncio.run(body())


def customers_command(args: argparse.Namespace, settings: Settings) -> int:
    document = export_document(settings, args.customer)
    text = json.dumps(document, indent=2, sort_keys=True)
    if args.out is None:
        print(text)
    else:
        args.out.write_text(text + "\n")
        actors = len(document["actors"])
        print(f"wrote {args.out}: {document['customer_id']} and {actors - 1} linked visitor(s)")
    if not document["known"]:
        print(f"engage keeps no state for {document['customer_id']}", file=sys.stderr)
    return 0
