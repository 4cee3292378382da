"""The live dashboard in a real headless browser (Debian's chromium and chromedriver)."""

from __future__ import annotations

import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import READ_KEY, App
from tests.kafka_support import produce
from tests.support import event

pytestmark = pytest.mark.integration

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


@pytest.fixture
def browser() -> Iterator[Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    if not (shutil.which(CHROMIUM) and shutil.which(CHROMEDRIVER)):
        pytest.fail(
            "the dashboard test needs Debian's chromium and chromium-driver (.ci/run installs them)"
        )
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    profile = tempfile.mkdtemp(prefix="engage-chromium-")
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def number(driver: Any, element_id: str) -> int | None:
    text = driver.find_element("id", element_id).text.replace(",", "")
    return int(text) if text.isdigit() else None


def wait(predicate: Any, timeout_s: float = 30) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.25)
    raise AssertionError("the dashboard never showed it")


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


def test_without_a_key_the_dashboard_says_it_is_disconnected(engage_app: App, browser: Any) -> None:
    browser.get(f"{engage_app.url}/dashboard")
    status = wait(lambda: "disconnected" in (t := browser.find_element("id", "status").text) and t)
    assert "401" in status
