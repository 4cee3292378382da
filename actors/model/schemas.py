"""JSON Schemas of what engage reads from and writes to Kafka, from the pydantic models.

Teams writing producers and consumers in other languages generate or validate against
these (`engage schema export`); docs/schemas holds the copies of this release, and a test
keeps them exact.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from actors.model.actions import ACTION_ADAPTER
from actors.model.decision import DecisionRecord
from actors.model.events import EVENT_ADAPTER


def schemas() -> dict[str, dict[str, Any]]:
    event = EVENT_ADAPTER.json_schema()
    event["title"] = "engage event (value of engage.events)"
    action = ACTION_ADAPTER.json_schema(mode="serialization")
    action["title"] = "engage action (value of engage.actions)"
    decision = DecisionRecord.model_json_schema(mode="serialization")
    decision["title"] = "engage decision (value of engage.decisions)"
    return {
        "engage.events.schema.json": event,
        "engage.actions.schema.json": action,
        "engage.decisions.schema.json": decision,
    }


def export(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, schema in schemas().items():
        path = folder / name
        path.write_text(json.dumps(schema, indent=2, sort_keys=True) + "\n")
        written.append(path)
    return written
