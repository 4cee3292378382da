"""A customer's state as saved in the store: JSON with a format number, and the
migrations that read every earlier format.

A state is saved by the code running at the commit and read by whatever code runs next:
after an upgrade, states of the previous format are read by the new code (each migration
turns format N into N + 1, in order), and a state of a format newer than the code (a
downgrade, or a node not yet upgraded in a rolling upgrade) is refused with
`StateFormatError`, an outage: ingest retries and reports it, and nothing is dropped or
dead-lettered. A field the format does not name is refused the same way, never dropped.

Formats:

1. applied event ids as a list of 64-bit hashes, `applied_at` their positions and
   `watermarks` the next offset per partition (the redelivery window).
2. applied events as `actors.model.dedup.Applied` (marks per stream, ids with their
   arrival second); format 1's ids are kept, stamped as arriving at the migration,
   and its per-partition watermarks dropped (they mixed a customer's own records with
   its visitors', which format 2's marks keep apart).
3. remembered actions carry the control group that held them.
4. `offers_made`: how often each offer reached the customer, ever (caps); counted at the
   migration from the remembered actions, all that earlier formats knew.
5. `consent` per channel and purpose (actors.model.consent) in place of one
   `consent_marketing` flag: an opt-out became a withdrawal of marketing on every channel.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import orjson

from actors.errors import StateFormatError
from actors.model.action_record import ActionRecord, made
from actors.model.consent import expand
from actors.model.dedup import Applied
from actors.model.state import CustomerState

STATE_FORMAT = 5

# Kept beside the data, not in it.
_NOT_SAVED = frozenset({"version", "merged_into", "forgotten_at"})
_FIELDS = frozenset(CustomerState.__slots__) - _NOT_SAVED


def state_to_dict(state: CustomerState) -> dict[str, Any]:
    data: dict[str, Any] = {"format": STATE_FORMAT}
    for name in CustomerState.__slots__:
        value = getattr(state, name)
        if value is None or name in _NOT_SAVED:
            continue
        if name == "applied":
            value = value.to_dict()
        elif name == "cart":
            value = {k: list(v) for k, v in value.items()}
        elif name == "payments":
            value = [list(p) for p in value]
        elif name in ("fired", "journeys"):
            value = {k: list(v) for k, v in value.items()}
        elif name == "recent_actions":
            value = [list(r) for r in value]
        data[name] = value
    return data


def state_from_dict(data: dict[str, Any], now: float | None = None) -> CustomerState:
    """The state `data` saved, read through every migration since its format."""
    data = dict(data)
    found = data.pop("format", 1)
    if not isinstance(found, int) or found < 1 or found > STATE_FORMAT:
        raise StateFormatError(found, STATE_FORMAT, "format unknown to this code")
    for step in range(found, STATE_FORMAT):
        data = MIGRATIONS[step](data, time.time() if now is None else now)
    unknown = sorted(set(data) - _FIELDS)
    if unknown:
        raise StateFormatError(found, STATE_FORMAT, f"fields unknown to this code: {unknown}")
    state = CustomerState()
    for name, value in data.items():
        if name == "applied":
            value = Applied.from_dict(value)
        elif name == "cart":
            value = {k: (v[0], _price(v[1]), int(v[2])) for k, v in value.items()}
        elif name == "payments":
            value = [(float(t), float(a)) for t, a in value]
        elif name == "fired":
            value = {k: (float(v[0]), int(v[1])) for k, v in value.items()}
        elif name == "journeys":
            value = {k: (str(v[0]), str(v[1]), float(v[2])) for k, v in value.items()}
        elif name == "recent_actions":
            value = [ActionRecord(*r) for r in value]
        setattr(state, name, value)
    return state


def state_to_json(state: CustomerState) -> bytes:
    return orjson.dumps(state_to_dict(state), option=orjson.OPT_SORT_KEYS)


def state_from_json(raw: bytes | str) -> CustomerState:
    return state_from_dict(orjson.loads(raw))


def _format_1_to_2(data: dict[str, Any], now: float) -> dict[str, Any]:
    ids = data.pop("applied", None)
    data.pop("applied_at", None)
    data.pop("watermarks", None)
    if ids:
        data["applied"] = Applied.of(ids, now, {}).to_dict()
    return data


def _format_2_to_3(data: dict[str, Any], now: float) -> dict[str, Any]:
    # Remembered actions gained the control group that held them; before, a held
    # action's group was not kept ("": counted as a campaign holdout's, as it was).
    if data.get("recent_actions"):
        data["recent_actions"] = [[*r, ""] if len(r) == 8 else r for r in data["recent_actions"]]
    return data


def _format_3_to_4(data: dict[str, Any], now: float) -> dict[str, Any]:
    made_before: dict[str, int] = {}
    for raw in data.get("recent_actions") or ():
        record = ActionRecord(*raw)
        if made(record):
            made_before[record.offer_id] = made_before.pop(record.offer_id, 0) + 1
    if made_before:
        data["offers_made"] = made_before
    return data


def _format_4_to_5(data: dict[str, Any], now: float) -> dict[str, Any]:
    # Granted was the default, so only an opt-out is an explicit answer to keep.
    if data.pop("consent_marketing", True) is False:
        data["consent"] = dict.fromkeys(expand("*.marketing"), False)
    return data


# MIGRATIONS[n] turns a state of format n into format n + 1.
MIGRATIONS: dict[int, Callable[[dict[str, Any], float], dict[str, Any]]] = {
    1: _format_1_to_2,
    2: _format_2_to_3,
    3: _format_3_to_4,
    4: _format_4_to_5,
}


def _price(value: Any) -> float | None:
    return None if value is None else float(value)
