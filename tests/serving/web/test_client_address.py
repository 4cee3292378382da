"""Whose request is it: the right-most address no trusted proxy wrote, never what the
caller put at the left of a forwarding header."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from serving.config import ApiConfig
from serving.web.client_address import ClientAddress

BEHIND_LB = ClientAddress.of("X-Forwarded-For", ())
BEHIND_CDN = ClientAddress.of("X-Forwarded-For", ["203.0.113.0/24", "2001:db8::/32"])


def test_without_a_header_configured_the_connection_is_the_client() -> None:
    assert ClientAddress().resolve("198.51.100.7", "1.2.3.4") == "198.51.100.7"


def test_behind_one_load_balancer_the_entry_it_appended_is_the_client() -> None:
    assert BEHIND_LB.resolve("10.0.0.2", "198.51.100.7") == "198.51.100.7"


def test_addresses_the_caller_wrote_at_the_left_are_not_believed() -> None:
    # The caller sends "X-Forwarded-For: 1.1.1.1" and rotates it per request; the load
    # balancer appends what it saw. The caller's entries cannot pick its rate-limit bucket.
    for forged in ("1.1.1.1", "2.2.2.2", "9.9.9.9, 8.8.8.8"):
        assert BEHIND_LB.resolve("10.0.0.2", f"{forged}, 198.51.100.7") == "198.51.100.7"


def test_trusted_proxies_in_front_are_passed_leftwards_to_the_first_untrusted_hop() -> None:
    chain = "6.6.6.6, 198.51.100.7, 203.0.113.9"  # forged, client, the CDN's edge
    assert BEHIND_CDN.resolve("10.0.0.2", chain) == "198.51.100.7"
    assert BEHIND_CDN.resolve("10.0.0.2", "198.51.100.7, [2001:db8::5]:443") == "198.51.100.7"


def test_an_entry_that_is_not_an_address_is_never_taken_for_the_client() -> None:
    assert BEHIND_LB.resolve("10.0.0.2", "not-an-ip") == "10.0.0.2"
    assert BEHIND_CDN.resolve("10.0.0.2", "junk, 203.0.113.9") == "203.0.113.9"


def test_trusted_proxies_must_be_addresses_or_networks() -> None:
    with pytest.raises(ValidationError, match="not an address or a network"):
        ApiConfig(trusted_proxies=("cdn.example.com",))
