"""The data scientist's loop on real parts, end to end.

A new fraud pattern the champion misses (account takeover: failed logins, then ordinary
payments) reaches engage over Kafka with its chargebacks; `engage models drift fraud`
flags the feature that carries it; `engage train fraud --from kafka` produces a candidate
that catches it on the recent window; shadow scoring on live traffic shows it; `promote`
swaps it in with no failed request; and the next takeover payments raise fraud alerts.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from actors.model.events import Event
from engage.cli import main
from tests.conftest import App
from tests.kafka_support import TopicReader, produce
from tests.support import event
from training.compare import read_shadow
from training.registry import ModelRegistry
from training.synthetic import Traits, generate

pytestmark = [pytest.mark.integration, pytest.mark.kafka]

DAY = 86_400.0


def processed(app: App) -> int:
    shards = app.get("/v1/shards").json()["shards"]
    return sum(int(s.get("events", 0)) for s in shards)


def send_and_wait(app: App, events: list[Event], timeout_s: float = 240) -> None:
    before = processed(app)
    produce(app.kafka, events)
    deadline = time.monotonic() + timeout_s
    while processed(app) < before + len(events):
        assert time.monotonic() < deadline, "the events were not all processed"
        time.sleep(0.5)


def up_to_now(events: list[Event], now: float) -> list[Event]:
    """What has happened by now: reports of recent fraud are still to come."""
    return [e for e in events if e.ts <= now]


def takeover(traits: Traits, at: float, n: int) -> list[Event]:
    """Failed logins, then one ordinary card-not-present payment from the customer's own
    country and device: the new pattern."""
    customer = traits.customer_id
    attempts = [
        event("login", customer, at + i * 10, success=False, method="password") for i in range(4)
    ]
    payment = event(
        "card_payment",
        customer,
        at + 60,
        payment_id=f"{customer}-ato-{n}",
        amount=round(traits.usual_amount * 1.2, 2),
        merchant="FreshMart",
        merchant_category="grocery",
        country=traits.country,
        device_id=traits.devices[0],
        card_present=False,
    )
    return [*attempts, payment]


@pytest.fixture
def cli(engage_app: App, monkeypatch: pytest.MonkeyPatch) -> Iterator[ModelRegistry]:
    """`engage` commands against the session's engage; the fraud champion put back after."""
    settings = engage_app.settings
    monkeypatch.setenv("ENGAGE_REDIS_URL", settings.redis.require_url())
    monkeypatch.setenv("ENGAGE_REDIS_PREFIX", settings.redis.prefix)
    monkeypatch.setenv("ENGAGE_KAFKA_BOOTSTRAP", settings.kafka.require_bootstrap())
    monkeypatch.setenv("ENGAGE_KAFKA_EVENTS_TOPIC", settings.kafka.events_topic)
    monkeypatch.setenv("ENGAGE_API_FEATURE_SAMPLE_S", str(settings.api.feature_sample_s))
    registry = ModelRegistry(settings.redis.require_url(), settings.redis.prefix)
    champion = registry.alias("fraud", "champion")
    assert champion is not None
    try:
        yield registry
    finally:
        registry.set_alias("fraud", "challenger", None)
        if registry.alias("fraud", "champion") != champion:
            registry.promote("fraud", champion, force=True)
        registry.close()


def test_a_new_fraud_pattern_is_seen_learned_from_the_topic_proven_and_then_caught(
    engage_app: App, cli: ModelRegistry, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    registry = cli
    champion = registry.alias("fraud", "champion")
    sample_s = engage_app.settings.api.feature_sample_s

    # 1. Fifty days of customers; from day 15 account takeovers start, reported by
    #    chargebacks and fraud reports days later, as a bank learns of them.
    now = time.time()
    start = now - 50 * DAY
    history = generate(
        customers=800,
        days=50,
        seed=21,
        start=start,
        takeover_from=start + 15 * DAY,
        takeover_share=0.15,
        prefix="loop",
    )
    send_and_wait(engage_app, up_to_now(history.events, now))
    history_end = time.time()
    time.sleep(2.5 * sample_s)  # a sample of the live counts after the history

    # 2. A wave of the new pattern now: drift against the training window flags it.
    wave_started = time.time()
    wave = generate(
        customers=300,
        days=2,
        seed=5,
        start=wave_started - 2 * DAY,
        takeover_from=wave_started - 2 * DAY,
        takeover_share=0.5,
        prefix="wave",
    )
    send_and_wait(engage_app, up_to_now(wave.events, wave_started))
    time.sleep(2.5 * sample_s)
    window = f"{time.time() - wave_started + sample_s:.0f}s"
    capsys.readouterr()
    assert main(["models", "drift", "fraud", "--window", window, "--json"]) == 4
    drift = json.loads(capsys.readouterr().out)
    assert drift["version"] == champion
    assert "failed_logins" in drift["drifted_features"], drift
    assert drift["live_rows"] >= 200

    # 3. Retrain from the topic: the events engage received, labelled by their reports.
    train = ["train", "fraud", "--from", "kafka", "--since", str(start)]
    assert main([*train, "--until", str(history_end), "--reports", str(tmp_path)]) == 0
    trained = capsys.readouterr().out
    candidate = int(re.search(r"registered fraud v(\d+)", trained).group(1))  # type: ignore[union-attr]
    assert f"better than v{champion} on pr_auc" in trained, trained
    meta = registry.get("fraud", candidate)
    assert meta.data["kind"] == "kafka"
    assert meta.data["counts"]["test_positives"] > 10
    assert meta.data["comparison"]["verdict"] == "better"

    # 4. Shadow: on live takeovers the candidate disagrees with the champion, rightly.
    assert main(["models", "shadow", "fraud", str(candidate)]) == 0
    wait_for_scorer(engage_app, "challenger", str(candidate))
    victims = [history.traits[c] for c in sorted(history.traits)[:40]]
    send_and_wait(
        engage_app,
        [e for n, t in enumerate(victims[:20]) for e in takeover(t, time.time(), n)],
    )
    shadow = wait_for_shadow(engage_app, str(candidate), at_least=20)
    caught_only_by_candidate = [
        r for r in shadow if r["challenger_score"] >= 0.5 > r["champion_score"]
    ]
    assert len(caught_only_by_candidate) >= 16, shadow[:5]
    capsys.readouterr()
    assert main(["models", "compare", "fraud"]) == 0
    live = json.loads(capsys.readouterr().out)
    assert live["challenger"] == str(candidate)
    assert live["agreement"] < 1.0

    # 5. Promote while requests flow: not one fails, and the scorer serves the candidate.
    answers: list[int] = []
    stop = threading.Event()

    def ask() -> None:
        while not stop.is_set():
            path = f"/v1/customers/{victims[0].customer_id}/next-best-offer"
            answers.append(engage_app.get(path).status_code)

    asker = threading.Thread(target=ask)
    asker.start()
    try:
        time.sleep(1.0)
        assert main(["models", "promote", "fraud", str(candidate)]) == 0
        wait_for_scorer(engage_app, "champion", str(candidate))
        time.sleep(1.0)
    finally:
        stop.set()
        asker.join(timeout=30)
    assert answers
    assert set(answers) == {200}

    # 6. The next takeovers raise fraud alerts, scored by the candidate (which, like any
    #    model, catches most of a pattern: here at least 4 in 5, as in shadow above).
    next_victims = victims[20:40]
    reader = TopicReader(engage_app.kafka.bootstrap or "", engage_app.kafka.actions_topic)
    wanted = {t.customer_id.encode() for t in next_victims}

    def alerted(records: list[Any]) -> set[bytes]:
        return wanted & {
            r.key
            for r in records
            if dict(r.headers).get("action-type") == b"fraud_alert"
            and json.loads(r.value)["model_versions"].get("fraud") == str(candidate)
        }

    try:
        produce(
            engage_app.kafka,
            [e for n, t in enumerate(next_victims) for e in takeover(t, time.time(), 100 + n)],
        )
        reader.read_until(lambda records: len(alerted(records)) >= 16, timeout_s=90)
        reader.read_until_quiet(quiet_s=2.0)
    finally:
        reader.close()
    assert len(alerted(reader.records)) >= 16


def wait_for_scorer(app: App, alias: str, version: str, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        served = app.get("/v1/models").json()["scorer"].get("versions", {}).get("fraud", {})
        if served.get(alias) == version:
            return
        time.sleep(0.2)
    raise AssertionError(f"the scorer never served fraud v{version} as {alias}")


def wait_for_shadow(
    app: App, challenger: str, at_least: int, timeout_s: float = 30
) -> list[dict[str, Any]]:
    settings = app.settings
    deadline = time.monotonic() + timeout_s
    while True:
        records = [
            r
            for r in read_shadow(settings.redis.require_url(), settings.redis.prefix, "fraud")
            if r["challenger"] == challenger
        ]
        if len(records) >= at_least or time.monotonic() > deadline:
            return records
        time.sleep(0.5)
