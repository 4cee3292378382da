"""Keys by source: a client key (in a web page for anyone to copy) describes browsing only;
a server key sends anything."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import SecretStr

from serving.config import ApiConfig
from serving.security import ApiError, KeyRing, RateLimiter, Scope
from serving.sources import client_refusal
from tests.support import event

RING = KeyRing(
    ApiConfig(
        write_keys=(SecretStr("server-key"),),
        client_keys=(SecretStr("client-key"),),
        read_keys=(SecretStr("read-key"),),
    )
)


@pytest.mark.parametrize(
    "kind", ["page_view", "product_view", "cart_add", "cart_remove", "content_view", "identify"]
)
def test_a_client_source_may_describe_browsing(kind: str) -> None:
    fields: dict[str, Any] = (
        {"traits": {"plan": "gold"}, "timezone": "Europe/Paris"} if kind == "identify" else {}
    )
    assert client_refusal(event(kind, **fields)) is None


@pytest.mark.parametrize(
    ("made", "field", "says"),
    [
        (lambda: event("card_payment"), "type", "cannot send card_payment events"),
        (lambda: event("purchase"), "type", "cannot send purchase events"),
        (lambda: event("login"), "type", "cannot send login events"),
        (lambda: event("identify", email="a@b.example"), "email", "cannot set contact details"),
        (lambda: event("identify", consent_marketing=True), "consent_marketing", "consent"),
        (
            lambda: event("identify", consent={"*.marketing": False, "sms.marketing": True}),
            "consent",
            "can withdraw consent, not grant it (sms.marketing)",
        ),
        (lambda: event("offer_feedback", outcome="converted"), "outcome", "conversions"),
    ],
)
def test_a_client_source_may_not_fake_payments_purchases_consent_or_contacts(
    made: object, field: str, says: str
) -> None:
    refusal = client_refusal(made())  # type: ignore[operator]
    assert refusal is not None
    assert refusal[0] == field
    assert says in refusal[1]
    assert refusal[1].endswith("use a server key")


@pytest.mark.parametrize(
    "fields",
    [{"consent_marketing": False}, {"consent": {"email.*": False, "push.marketing": False}}],
)
def test_a_client_source_may_withdraw_consent(fields: dict[str, Any]) -> None:
    # A consent banner's opt-out runs in the page: taken, it can only mean sending less.
    assert client_refusal(event("identify", **fields)) is None


def test_keys_are_granted_by_source() -> None:
    server = RING.check("server-key", Scope.COLLECT)
    client = RING.check("client-key", Scope.COLLECT)
    assert not server.client
    assert client.client
    assert Scope.WRITE in server.scopes
    with pytest.raises(ApiError) as refused:
        RING.check("client-key", Scope.READ)
    assert refused.value.status == 403
    with pytest.raises(ApiError):
        RING.check("read-key", Scope.COLLECT)


def test_one_address_over_its_rate_does_not_limit_another() -> None:
    limiter = RateLimiter(rate=1.0, burst=2)
    assert limiter.take("k@10.0.0.1", now=0.0) == 0.0
    assert limiter.take("k@10.0.0.1", now=0.0) == 0.0
    assert limiter.take("k@10.0.0.1", now=0.0) > 0.0
    assert limiter.take("k@10.0.0.2", now=0.0) == 0.0
    limiter.check("k@10.0.0.3", "from this address for this key")
    limiter.check("k@10.0.0.3", "from this address for this key")
    with pytest.raises(ApiError) as limited:
        limiter.check("k@10.0.0.3", "from this address for this key")
    assert limited.value.status == 429
    assert limited.value.detail.endswith("per second from this address for this key")


def test_idle_buckets_are_forgotten_so_rotating_addresses_cannot_grow_memory() -> None:
    limiter = RateLimiter(rate=10.0, burst=10, max_buckets=100)
    for n in range(1000):
        limiter.take(f"k@{n}", now=float(n))
    assert len(limiter) <= 100
