"""The real browser SDKs, unchanged, in headless Chromium, sending to engage.

`@segment/analytics-next` and `@rudderstack/analytics-js` come from npm (pinned in
tests/sdk_pages/package.json, installed by `make test`) and are served with the test
pages by the test itself, on an origin engage's CORS allows: no CDN, nothing fetched at
run time. The pages embed the client key, as a shop's pages would; every request is
cross-origin (preflights included), and what arrived is read back from the customer's
context over the API."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from tests.chromium import chromium, static_site
from tests.conftest import CLIENT_KEY, SDK_PAGES_PORT, App
from tests.eventually import eventually

pytestmark = pytest.mark.integration

PAGES = Path(__file__).parents[1] / "sdk_pages"


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    if not (PAGES / "node_modules").is_dir():
        pytest.fail(
            "the browser SDKs are not installed: `make test` runs npm ci in tests/sdk_pages"
        )
    with static_site(PAGES, SDK_PAGES_PORT) as url:
        yield url


@pytest.fixture
def browser() -> Iterator[Any]:
    with chromium() as driver:
        driver.set_script_timeout(60)
        yield driver


def wait(predicate: Callable[[], Any], what: str, timeout_s: float = 45) -> Any:
    return eventually(predicate, timeout_s, what, 0.25)


def open_page(browser: Any, site: str, app: App, page: str, **flags: str) -> str:
    """Loads a shop page with its SDK pointed at engage; the visitor's anonymous id."""
    browser.get(f"{site}/{page}?{urlencode({'engage': app.url, 'key': CLIENT_KEY, **flags})}")
    wait(
        lambda: browser.execute_script("return window.sdk.ready || window.sdk.errors.length > 0"),
        f"{page} loaded its SDK",
    )
    assert browser.execute_script("return window.sdk.errors") == []
    anonymous_id: str = browser.execute_script("return window.sdk.anonymousId")
    return anonymous_id


def run(browser: Any, calls: str) -> None:
    """Runs the SDK calls (JavaScript with `await`) and waits until they have settled."""
    error = browser.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        f"(async () => {{ {calls} }})().then(() => done(null), (e) => done(String(e)));"
    )
    assert error is None


def requests_to(browser: Any, path: str) -> int:
    """How many requests the page made to `path` (the browser's resource timing)."""
    count: int = browser.execute_script(
        "return performance.getEntriesByType('resource')"
        ".filter((e) => new URL(e.name).pathname === arguments[0]).length",
        path,
    )
    return count


def context_when(app: App, actor: str, done: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    def answer() -> dict[str, Any] | None:
        context: dict[str, Any] = app.get(f"/v1/customers/{actor}/context").json()
        return context if done(context) else None

    found: dict[str, Any] = wait(answer, f"{actor}'s context")
    return found


def custom(context: dict[str, Any]) -> dict[str, int]:
    counts: dict[str, int] = context["session"]["custom"] or {}
    return counts


def test_analytics_next_calls_arrive_and_signing_in_merges_the_visitor(
    engage_app: App, site: str, browser: Any
) -> None:
    user = f"ajs-{uuid.uuid4().hex[:8]}"
    visitor = open_page(browser, site, engage_app, "segment.html")
    run(
        browser,
        """
        await analytics.page("Shop", "TVs", {url: "/c/tvs"});
        await analytics.track("Checkout Step Viewed", {step: 2});
        await analytics.track("Checkout Step Viewed", {step: 3});
        // Applied: a price the site and the catalogue leave out stays unknown.
        await analytics.track("Product Added", {product_id: "tv-1"});
        """,
    )
    context = context_when(engage_app, f"anon:{visitor}", lambda c: c["session"]["events"] == 4)
    assert custom(context).get("Checkout Step Viewed") == 2  # and the page and the cart add
    run(
        browser,
        f'await analytics.identify("{user}", {{plan: "gold"}}); await analytics.alias("{user}");',
    )

    merged = context_when(engage_app, user, lambda c: c["session"]["events"] >= 4)
    assert custom(merged) == {"Checkout Step Viewed": 2}
    assert merged["customer"]["traits"] == {"plan": "gold"}
    assert engage_app.get(f"/v1/customers/anon:{visitor}/context").json()["customer_id"] == user
    # Each call was one request, the refused one too: nothing was retried.
    assert requests_to(browser, "/v1/t") == 3
    assert requests_to(browser, "/v1/i") == 1


def test_rudderstack_calls_arrive_through_preflights_with_its_own_headers(
    engage_app: App, site: str, browser: Any
) -> None:
    """RudderStack sends JSON with `Authorization` and `AnonymousId` headers: every call
    is preceded by a CORS preflight, which must allow both."""
    user = f"rs-{uuid.uuid4().hex[:8]}"
    visitor = open_page(browser, site, engage_app, "rudderstack.html")
    run(
        browser,
        f"""
        rudder.page("Shop", "Home", {{url: "/"}});
        rudder.track("Support Chat Opened", {{topic: "delivery"}});
        rudder.identify("{user}", {{plan: "silver"}});
        rudder.alias("{user}");
        """,
    )
    merged = context_when(engage_app, user, lambda c: c["session"]["events"] >= 3)
    assert custom(merged) == {"Support Chat Opened": 1}
    assert merged["customer"]["traits"]["plan"] == "silver"
    as_visitor = engage_app.get(f"/v1/customers/anon:{visitor}/context").json()
    assert as_visitor["customer_id"] == user


def test_a_headless_browser_s_calls_are_answered_and_counted_but_kept_out(
    engage_app: App, site: str
) -> None:
    """A crawler that runs the page's JavaScript, as headless Chromium says it is: its SDK
    calls succeed (it has no reason to retry), nothing of them reaches the stream, and
    every one is counted where the site owner looks."""

    def bots() -> int:
        report = engage_app.get("/v1/reports/collect").json()
        return int(report["bots"].get("segment", 0))

    before = bots()
    with chromium(user_agent=None) as crawler:
        crawler.set_script_timeout(60)
        visitor = open_page(crawler, site, engage_app, "segment.html")
        run(
            crawler,
            """
            await analytics.page("Shop", "TVs", {url: "/c/tvs"});
            await analytics.track("Product Viewed", {product_id: "tv-1"});
            """,
        )
        assert "HeadlessChrome" in crawler.execute_script("return navigator.userAgent")
    wait(lambda: bots() >= before + 2, "the headless calls counted")
    # Never published: there is nothing on its way to the visitor's actor.
    answer = engage_app.get(f"/v1/customers/anon:{visitor}/context")
    assert answer.status_code == 404 or answer.json()["session"]["events"] == 0


def test_analytics_next_flushes_its_batch_when_the_page_is_left(
    engage_app: App, site: str, browser: Any
) -> None:
    visitor = open_page(browser, site, engage_app, "segment.html", batching="1")
    run(
        browser,
        """
        for (const n of [1, 2, 3]) {
          analytics.track("Product Added to Wishlist", {product_id: "p" + n});
        }
        """,
    )
    assert requests_to(browser, "/v1/b") == 0  # held for the batch
    browser.get("about:blank")  # leaving the page: a keepalive request carries the batch
    context = context_when(
        engage_app, f"anon:{visitor}", lambda c: custom(c).get("Product Added to Wishlist") == 3
    )
    assert context["session"]["events"] == 3


def test_rudderstack_sends_its_beacon_queue_when_the_page_is_left(
    engage_app: App, site: str, browser: Any
) -> None:
    """With `useBeacon`, RudderStack queues events and hands them to
    `navigator.sendBeacon` on unload: a `text/plain` batch with the key in the query."""
    visitor = open_page(browser, site, engage_app, "rudderstack.html", beacon="1")
    run(browser, 'rudder.track("Coupon Copied", {code: "TEN"}); rudder.page("Shop", "Cart");')
    browser.get("about:blank")
    context = context_when(
        engage_app, f"anon:{visitor}", lambda c: custom(c).get("Coupon Copied") == 1
    )
    assert context["session"]["events"] == 2


def test_calls_refused_for_the_rate_limit_are_retried_and_arrive_once(
    engage_app: App, site: str, browser: Any
) -> None:
    """A client key is rate-limited per address (20 at once, 5 a second here): a burst of
    40 calls gets 429s, which analytics.js retries until each call is in, once (the
    message id makes a retry that did arrive a no-op)."""
    visitor = open_page(browser, site, engage_app, "segment.html")
    run(
        browser,
        """
        await Promise.all(
          Array.from({length: 40}, (_, n) => analytics.track("Size Guide Opened", {n: n}))
        );
        """,
    )
    context = context_when(
        engage_app,
        f"anon:{visitor}",
        lambda c: custom(c).get("Size Guide Opened", 0) >= 40,
    )
    assert custom(context) == {"Size Guide Opened": 40}
    assert requests_to(browser, "/v1/t") > 40  # some were sent again
