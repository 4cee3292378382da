"""What collection keeps out and cuts down before an event reaches the broker: crawlers
and headless browsers (counted, never sent on), and IP addresses (cut to their network).

A crawler that runs a page's JavaScript sends the page's events with the site's client
key: left in, it would trigger offers, dilute holdouts and teach the models a visitor who
never buys. Agents are recognised by the user-agent list of CrawlerDetect (the
`crawlerdetect` package, a port of the maintained JayBizzle/Crawler-Detect patterns),
from the event's own `context.user_agent` or, for a client key's call, the request's
`User-Agent` header (a server's header names its HTTP library, not the visitor).

Only agents that present themselves as browsers (`Mozilla/...`, as every browser,
headless browser and crawler of the web does) are judged: the list also names HTTP
libraries (okhttp, python-requests), and a mobile app sending with its client key through
okhttp is a customer, not a crawler.

An address is personal data, and engage's models need at most its network: an IPv4
address keeps its first three bytes (a /24), an IPv6 address its first 48 bits, the
granularity analytics tools anonymise to; a value that is not an address is dropped.
"""

from __future__ import annotations

import functools
import ipaddress
import threading

from crawlerdetect import CrawlerDetect

from actors.model.events import Event
from serving.config import ApiConfig
from serving.security import Grant

BROWSER_PREFIX = "Mozilla/"
_detector = CrawlerDetect()
_detector_lock = threading.Lock()  # a detector keeps its last match on itself


@functools.lru_cache(maxsize=4096)  # browsers send a handful of distinct agents
def crawler(user_agent: str) -> str | None:
    """What the agent is recognised as ("Googlebot", "Headless"), None for a browser."""
    with _detector_lock:
        if not _detector.isCrawler(user_agent):
            return None
        return str(_detector.getMatches() or "crawler")


def network_of(address: str) -> str | None:
    """The address cut to its network (IPv4 /24, IPv6 /48); None if it is no address."""
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    prefix = 24 if ip.version == 4 else 48
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False).network_address)


class Screen:
    def __init__(self, config: ApiConfig) -> None:
        self.keep_bots = config.keep_bots
        self.full_ip_addresses = config.full_ip_addresses

    def bot(self, event: Event, caller: Grant) -> str | None:
        """The crawler or headless agent that sent `event`, if one did and bots are kept
        out."""
        if self.keep_bots:
            return None
        agent = event.context.user_agent if event.context is not None else None
        if not agent and caller.client:
            agent = caller.user_agent
        return crawler(agent) if agent and agent.startswith(BROWSER_PREFIX) else None

    def minimised(self, event: Event) -> Event:
        """The event as it may be kept: its IP address cut to the network."""
        context = event.context
        if self.full_ip_addresses or context is None or context.ip is None:
            return event
        network = network_of(context.ip)
        if network == context.ip:
            return event
        return event.model_copy(update={"context": context.model_copy(update={"ip": network})})
