"""The published JSON Schemas match the code and describe what is really sent."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema

from actors.model.schemas import schemas
from tests.actors.delivery.test_outbox import make_action
from tests.support import event

PUBLISHED = Path(__file__).parents[3] / "docs" / "schemas"


def test_the_published_schemas_are_exactly_what_the_code_exports() -> None:
    for name, schema in schemas().items():
        published = json.loads((PUBLISHED / name).read_text())
        assert published == json.loads(json.dumps(schema)), f"run `engage schema export` ({name})"


def test_events_and_actions_validate_against_the_schemas() -> None:
    exported = schemas()
    for kind in (
        "page_view",
        "product_view",
        "cart_add",
        "purchase",
        "card_payment",
        "content_view",
        "identify",
    ):
        sample = json.loads(event(kind).model_dump_json(exclude_none=True))
        jsonschema.validate(sample, exported["engage.events.schema.json"])
    action = json.loads(make_action("k1").model_dump_json())
    jsonschema.validate(action, exported["engage.actions.schema.json"])


def test_an_invalid_event_fails_the_schema_too() -> None:
    sample = json.loads(event("card_payment").model_dump_json(exclude_none=True))
    sample["amount"] = -5
    try:
        jsonschema.validate(sample, schemas()["engage.events.schema.json"])
    except jsonschema.ValidationError:
        return
    raise AssertionError("a negative amount passed the schema")
