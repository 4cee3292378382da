"""What collection keeps out and cuts down: crawlers and headless agents recognised by
the maintained CrawlerDetect list (from the event, or a client's request header), and IP
addresses cut to their network unless configured otherwise."""

from __future__ import annotations

import time

import pytest

from actors.model.events import Event, EventContext
from serving.config import ApiConfig
from serving.screening import Screen, crawler, network_of
from serving.security import Grant, Scope
from tests.support import event

CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
HEADLESS = CHROME.replace("Chrome/", "HeadlessChrome/")
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
CLIENT = Grant(frozenset({Scope.COLLECT}), "client")
SERVER = Grant(frozenset({Scope.COLLECT, Scope.WRITE}), "server")


@pytest.mark.parametrize(
    ("agent", "recognised"),
    [
        (GOOGLEBOT, True),
        (HEADLESS, True),
        ("python-requests/2.34.2", True),
        (CHROME, False),
        ("Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0", False),
        (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 "
            "(KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
            False,
        ),
    ],
)
def test_crawlers_and_headless_agents_are_recognised_and_browsers_are_not(
    agent: str, recognised: bool
) -> None:
    assert (crawler(agent) is not None) is recognised


def with_context(**context: str) -> Event:
    return event("page_view", at=time.time()).model_copy(
        update={"context": EventContext.model_validate(context)}
    )


def test_the_event_s_own_agent_is_judged_first() -> None:
    screen = Screen(ApiConfig())
    assert screen.bot(with_context(user_agent=GOOGLEBOT), SERVER) == "Googlebot"
    assert screen.bot(with_context(user_agent=CHROME), SERVER) is None


def test_a_request_header_counts_for_clients_only() -> None:
    """A browser's header is the visitor's; a server's names its HTTP library."""
    screen = Screen(ApiConfig())
    plain = event("page_view", at=time.time())
    assert screen.bot(plain, Grant(CLIENT.scopes, "client", HEADLESS)) == "Headless"
    assert screen.bot(plain, Grant(SERVER.scopes, "server", "python-requests/2.34.2")) is None


def test_an_app_s_http_library_is_not_taken_for_a_crawler() -> None:
    """The list names HTTP libraries too; a mobile app sends through one with its client
    key, so only agents presenting themselves as browsers are judged."""
    screen = Screen(ApiConfig())
    plain = event("page_view", at=time.time())
    assert crawler("okhttp/4.12.0") is not None  # on the list
    assert screen.bot(plain, Grant(CLIENT.scopes, "client", "okhttp/4.12.0")) is None
    assert screen.bot(with_context(user_agent="python-requests/2.34.2"), SERVER) is None


def test_bots_are_kept_in_when_configured() -> None:
    screen = Screen(ApiConfig(keep_bots=True))
    assert screen.bot(with_context(user_agent=GOOGLEBOT), SERVER) is None


@pytest.mark.parametrize(
    ("address", "network"),
    [
        ("203.0.113.77", "203.0.113.0"),
        ("2001:db8:85a3:8d3:1319:8a2e:370:7348", "2001:db8:85a3::"),
        ("::ffff:198.51.100.23", "198.51.100.0"),
        (" 192.0.2.1 ", "192.0.2.0"),
        ("not an address", None),
    ],
)
def test_an_address_is_cut_to_its_network(address: str, network: str | None) -> None:
    assert network_of(address) == network


def test_events_keep_their_network_only_unless_whole_addresses_are_configured() -> None:
    sent = with_context(ip="203.0.113.77", user_agent=CHROME)
    kept = Screen(ApiConfig()).minimised(sent)
    assert kept.context is not None
    assert kept.context.ip == "203.0.113.0"
    assert kept.context.user_agent == CHROME
    whole = Screen(ApiConfig(full_ip_addresses=True)).minimised(sent)
    assert whole.context is not None
    assert whole.context.ip == "203.0.113.77"
    garbage = Screen(ApiConfig()).minimised(with_context(ip="localhost"))
    assert garbage.context is not None
    assert garbage.context.ip is None
