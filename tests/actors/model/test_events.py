"""Events: one schema for every source; bad input is refused with the field named."""

from __future__ import annotations

import json

import pytest

from actors.errors import InvalidCustomerIdError, InvalidEventError
from actors.model.events import (
    CardPayment,
    ProductView,
    event_from_dict,
    event_to_json,
    parse_event,
    validate_customer_id,
)


def raw(**fields: object) -> bytes:
    base: dict[str, object] = {
        "type": "product_view",
        "event_id": "e1",
        "customer_id": "c1",
        "timestamp": "2026-05-01T10:00:00Z",
        "product_id": "p1",
        "category": "electronics",
        "price": 99.5,
    }
    base.update(fields)
    return json.dumps({k: v for k, v in base.items() if v is not None}).encode()


def test_a_valid_event_parses_into_its_type() -> None:
    event = parse_event(raw())
    assert isinstance(event, ProductView)
    assert event.actor_id == "c1"
    assert event.schema_version == 1


def test_the_actor_of_an_anonymous_visitor_is_its_anonymous_id() -> None:
    event = parse_event(raw(customer_id=None, anonymous_id="a-77"))
    assert event.actor_id == "anon:a-77"


def test_an_event_without_identity_is_refused() -> None:
    with pytest.raises(InvalidEventError, match="customer_id or anonymous_id"):
        parse_event(raw(customer_id=None))


def test_a_bad_field_is_named_without_the_union_tag() -> None:
    with pytest.raises(InvalidEventError) as caught:
        parse_event(raw(price=-3))
    assert caught.value.field == "price"
    assert "greater than or equal to 0" in caught.value.reason


def test_unknown_fields_are_refused() -> None:
    with pytest.raises(InvalidEventError) as caught:
        parse_event(raw(colour="red"))
    assert caught.value.field == "colour"


def test_an_unknown_type_is_refused_with_the_known_ones_listed() -> None:
    with pytest.raises(InvalidEventError, match="card_payment"):
        parse_event(raw(type="teleport"))


def test_garbage_is_refused() -> None:
    with pytest.raises(InvalidEventError, match="Invalid JSON"):
        parse_event(b"\x00not json")


def test_a_naive_timestamp_means_utc() -> None:
    event = parse_event(raw(timestamp="2026-05-01T10:00:00"))
    assert event.timestamp.utcoffset() is not None
    assert event.ts == parse_event(raw()).ts


def test_events_round_trip_through_json() -> None:
    event = parse_event(
        json.dumps(
            {
                "type": "card_payment",
                "event_id": "e9",
                "customer_id": "c9",
                "timestamp": "2026-05-01T10:00:00+02:00",
                "payment_id": "p9",
                "amount": 12.5,
                "merchant": "Cafe",
                "country": "DE",
            }
        )
    )
    assert isinstance(event, CardPayment)
    assert parse_event(event_to_json(event)) == event


@pytest.mark.parametrize("customer_id", ["c1", "anon:abc", "user@example.com", "a.b-c_d:1"])
def test_well_formed_customer_ids_are_accepted(customer_id: str) -> None:
    assert validate_customer_id(customer_id) == customer_id


@pytest.mark.parametrize("customer_id", ["", "has space", "-leading", "x" * 129, "a/b", "anon:"])
def test_malformed_customer_ids_are_refused(customer_id: str) -> None:
    with pytest.raises(InvalidCustomerIdError):
        validate_customer_id(customer_id)


def test_a_customer_id_cannot_take_a_visitors_actor() -> None:
    # `anon:v2` is visitor v2's actor: as a customer id it would merge visitor v1 into
    # visitor v2, and chains of visitors could be built.
    with pytest.raises(InvalidEventError) as refused:
        event_from_dict(
            {
                "type": "identify",
                "event_id": "x1",
                "customer_id": "anon:v2",
                "anonymous_id": "v1",
                "timestamp": "2026-12-01T00:00:00Z",
            }
        )
    assert refused.value.field == "customer_id"
