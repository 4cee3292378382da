"""The data scientist's loop on the demo's own traffic, on real parts, with a compressed clock.

What a newcomer runs against `make demo` (docs/models.md, "The loop on the demo"): the
simulated traffic, with account takeovers started (`engage simulate --drift takeover`, a
pattern the champion never saw), reaches engage over Kafka with the outcomes the demo
sends; `engage models drift fraud` flags `failed_logins`; `engage train fraud --from kafka
--since 10m --label-window 2m` produces a candidate better than the champion; shadow
scoring shows it catching live takeovers the champion misses; `promote` swaps it in with
no failed request; the next takeovers raise fraud alerts scored by the new version. The
recommender learns from the demo's offer feedback with the same commands.

The compressed clock: ten minutes of demo traffic, stamped and followed by outcomes as the
demo's simulator stamps them, are sent as fast as engage takes them, ending now.
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
from tests.eventually import eventually
from tests.kafka_support import TopicReader, produce
from tests.support import event
from training.compare import read_shadow
from training.live_traffic import LiveTraffic
from training.registry import ModelRegistry
from training.synthetic import Traits

pytestmark = [pytest.mark.integration, pytest.mark.kafka]

# The demo's traffic for ten minutes, at a rate the shared test app takes quickly.
MINUTES = 10
RATE = 60.0
TAKEOVER_SHARE = 0.15


def processed(app: App) -> int:
    shards = app.get("/v1/shards").json()["shards"]
    return sum(int(s.get("events", 0)) for s in shards)


def send_and_wait(app: App, events: list[Event], timeout_s: float = 300) -> None:
    before = processed(app)
    produce(app.kafka, events)
    eventually(
        lambda: processed(app) >= before + len(events),
        timeout_s,
        "the events were all processed",
        interval_s=0.5,
    )


def demo_traffic(traffic: LiveTraffic, until: float) -> list[Event]:
    """`MINUTES` of the demo's traffic at `RATE` events a second ending at `until`, with
    every outcome that fell due by then on the demo clock."""
    now = until - MINUTES * 60
    sent: list[Event] = []
    while now < until:
        session = traffic.next_session(now)
        sent += session
        sent += traffic.due(now)
        now += len(session) / RATE
    return sent + traffic.due(until)


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
        payment_id=f"{customer}-ato-live-{n}",
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
    """`engage` commands against the session's engage; the champions put back after."""
    settings = engage_app.settings
    monkeypatch.setenv("ENGAGE_REDIS_URL", settings.redis.require_url())
    monkeypatch.setenv("ENGAGE_REDIS_PREFIX", settings.redis.prefix)
    monkeypatch.setenv("ENGAGE_KAFKA_BOOTSTRAP", settings.kafka.require_bootstrap())
    monkeypatch.setenv("ENGAGE_KAFKA_EVENTS_TOPIC", settings.kafka.events_topic)
    monkeypatch.setenv("ENGAGE_API_FEATURE_SAMPLE_S", str(settings.api.feature_sample_s))
    registry = ModelRegistry(settings.redis.require_url(), settings.redis.prefix)
    champions = {name: registry.alias(name, "champion") for name in ("fraud", "recommender")}
    assert None not in champions.values()
    try:
        yield registry
    finally:
        for name, champion in champions.items():
            registry.set_alias(name, "challenger", None)
            if champion is not None and registry.alias(name, "champion") != champion:
                registry.promote(name, champion, force=True)
        registry.close()


def registered(output: str, model: str) -> int:
    found = re.search(rf"registered {model} v(\d+)", output)
    assert found is not None, output
    return int(found.group(1))


def test_the_demo_traffic_teaches_a_candidate_that_catches_the_takeovers_the_champion_misses(
    engage_app: App, cli: ModelRegistry, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    registry = cli
    champion = registry.alias("fraud", "champion")
    sample_s = engage_app.settings.api.feature_sample_s

    # 1. Ten minutes of the demo with takeovers started (`engage simulate --drift
    #    takeover`), its fraud reports, chargebacks and offer feedback among them.
    traffic = LiveTraffic(customers=500, takeover_share=TAKEOVER_SHARE, run_id="loop")
    sent_from = time.time()
    send_and_wait(engage_app, demo_traffic(traffic, sent_from))
    assert len(traffic.takeover_truth) > 100
    time.sleep(2.5 * sample_s)  # a sample of the live features after the traffic

    # 2. Drift against the champion's training window names the feature of the pattern.
    window = f"{time.time() - sent_from + sample_s:.0f}s"
    capsys.readouterr()
    assert main(["models", "drift", "fraud", "--window", window, "--json"]) == 4
    drift = json.loads(capsys.readouterr().out)
    assert drift["version"] == champion
    assert "failed_logins" in drift["drifted_features"], drift

    # 3. Retrain from the topic, as the newcomer types it.
    train = ["train", "fraud", "--from", "kafka", "--since", "10m", "--label-window", "2m"]
    assert main([*train, "--reports", str(tmp_path)]) == 0
    trained = capsys.readouterr().out
    candidate = registered(trained, "fraud")
    assert f"better than v{champion} on pr_auc" in trained, trained
    meta = registry.get("fraud", candidate)
    assert meta.data["kind"] == "kafka"
    assert meta.data["counts"]["train_positives"] > 20
    assert meta.data["comparison"]["verdict"] == "better"

    # 4. Shadow: on live takeovers the candidate disagrees with the champion, rightly.
    assert main(["models", "shadow", "fraud", str(candidate)]) == 0
    wait_for_scorer(engage_app, "challenger", str(candidate))
    banking = [t for t in traffic.population if "banking" in t.domains]
    victims = banking[:40]
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

    # 7. The recommender, from the demo's offer feedback, with the same commands.
    capsys.readouterr()
    recommend = ["train", "recommender", "--from", "kafka", "--since", "10m"]
    assert main([*recommend, "--label-window", "2m", "--reports", str(tmp_path)]) == 0
    trained = capsys.readouterr().out
    version = registered(trained, "recommender")
    counts = registry.get("recommender", version).data["counts"]
    assert counts["train_positives"] > 20, counts
    assert main(["models", "shadow", "recommender", str(version)]) == 0
    wait_for_scorer(engage_app, "challenger", str(version), model="recommender")


def wait_for_scorer(
    app: App, alias: str, version: str, model: str = "fraud", timeout_s: float = 30
) -> None:
    def served() -> bool:
        versions = app.get("/v1/models").json()["scorer"].get("versions", {})
        return bool(versions.get(model, {}).get(alias) == version)

    eventually(served, timeout_s, f"the scorer serving {model} v{version} as {alias}", 0.2)


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
