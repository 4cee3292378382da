"""The live dashboard in a real headless browser (Debian's chromium and chromedriver)."""

from __future__ import annotations

import os
import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.chromium import chromium
from tests.conftest import READ_KEY, App
from tests.eventually import eventually
from tests.kafka_support import produce
from tests.support import event

pytestmark = pytest.mark.integration


@pytest.fixture
def browser() -> Iterator[Any]:
    with chromium() as driver:
        yield driver


def number(driver: Any, element_id: str) -> int | None:
    text = driver.find_element("id", element_id).text.replace(",", "")
    return int(text) if text.isdigit() else None


def wait(predicate: Any, timeout_s: float = 30) -> Any:
    return eventually(predicate, timeout_s, "the dashboard showing it", 0.25)


def test_the_dashboard_shows_live_figures_that_change(engage_app: App, browser: Any) -> None:
    browser.get(f"{engage_app.url}/dashboard?key={READ_KEY}")
    wait(lambda: browser.find_element("id", "status").text == "live")
    before = wait(lambda: (n := number(browser, "events-processed")) is not None and n + 1)
    customers = [f"dash-{uuid.uuid4().hex[:6]}-{n}" for n in range(30)]
    produce(
        engage_app.kafka, [event("product_view", customer=c, at=time.time()) for c in customers]
    )
    after = wait(
        lambda: (
            (n := number(browser, "events-processed")) is not None and n >= before - 1 + 30 and n
        )
    )
    assert after >= before - 1 + 30
    assert wait(lambda: number(browser, "live-customers"))
    assert wait(lambda: number(browser, "events-per-second") is not None)
    shards = browser.find_element("id", "shards").text
    assert "shard 0" in shards
    assert "shard 1" in shards
    models = browser.find_element("id", "models").text
    assert "recommender" in models
    assert "fraud" in models
    # Each live model against its training window: the champions recorded one.
    drift = wait(lambda: "recommender v" in (t := browser.find_element("id", "drift").text) and t)
    assert "fraud v" in drift
    assert "score" in drift


def test_without_a_key_the_dashboard_says_it_is_disconnected(engage_app: App, browser: Any) -> None:
    browser.get(f"{engage_app.url}/dashboard")
    status = wait(lambda: "disconnected" in (t := browser.find_element("id", "status").text) and t)
    assert "401" in status


def test_a_customer_search_shows_actions_and_suppressions_and_charts_draw(
    engage_app: App, browser: Any, tmp_path: Path
) -> None:
    customer = f"dash-{uuid.uuid4().hex[:8]}"
    now = time.time()
    # Three views: the browse offer fires on one and is delivered. Then the customer
    # withdraws consent, and the next view's marketing rules are held back for it.
    produce(
        engage_app.kafka,
        [event("product_view", customer=customer, at=now + i) for i in range(3)],
    )

    def turns() -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = engage_app.get(f"/v1/customers/{customer}/timeline").json()[
            "turns"
        ]
        return found

    wait(lambda: any(t.get("delivery", "").startswith("delivered") for t in turns()))
    withdrawn = event("identify", customer=customer, at=now + 3, consent_marketing=False)
    held = event("product_view", customer=customer, at=now + 4)
    produce(engage_app.kafka, [withdrawn, held])
    wait(lambda: held.event_id in {t.get("trigger_id") for t in turns()})
    browser.set_window_size(1400, 1800)
    browser.get(f"{engage_app.url}/dashboard?key={READ_KEY}")
    wait(lambda: browser.find_element("id", "status").text == "live")
    browser.find_element("id", "customer-id").send_keys(customer)
    browser.find_element("css selector", "#customer-search button").click()

    def rows(kind: str) -> list[str]:
        found = browser.find_elements("css selector", f"#customer-timeline tr.{kind}")
        return [row.text for row in found]

    assert wait(lambda: any("customer opted out of marketing" in r for r in rows("suppressed")))
    assert any("fired" in r for r in rows("action"))
    assert any("delivered (kafka)" in r for r in rows("action"))
    context = browser.find_element("id", "customer-context").text
    assert "marketing consent no" in context
    # In-app offers need no marketing consent: the next-best-offer still answers.
    assert "%" in browser.find_element("id", "customer-offers").text
    # The charts draw from samples kept in Redis: two are needed for a first rate.
    assert wait(lambda: browser.find_elements("css selector", "#chart-events .uplot"), 40)
    assert browser.find_elements("css selector", "#chart-shards .uplot")
    assert browser.find_elements("css selector", "#chart-scores .uplot")
    assert browser.find_elements("css selector", "#chart-action-latency .uplot")
    shot = tmp_path / "dashboard.png"
    browser.save_screenshot(str(shot))
    assert shot.stat().st_size > 10_000
    if os.environ.get("ENGAGE_DOCS_SCREENSHOT"):  # refreshes docs/images/dashboard.png
        shutil.copy(shot, os.environ["ENGAGE_DOCS_SCREENSHOT"])
