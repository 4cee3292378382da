"""Rules as versioned data on a running engage: a version pushed while traffic flows is in
force on every shard within seconds, without a restart and without losing an event; a
rollback puts the previous behaviour back; the CLI and the API see the same versions."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

from actors.model.events import event_to_json
from engage.cli import main
from tests.conftest import ADMIN_TOKEN, App
from tests.eventually import eventually
from tests.kafka_support import TopicReader, produce
from tests.support import event

pytestmark = [pytest.mark.integration, pytest.mark.kafka]

PROBE = {
    "id": "rules_probe",
    "description": "A rule pushed while traffic flows.",
    "kind": "service",
    "triggers": ["page_view"],
    "when": "'rv-' in customer.customer_id",
    "action": {"type": "content_recommendation", "channel": "in_app", "template": "pushed"},
}


class Traffic:
    """Page views of other customers, sent without pause until stopped."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.sent = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._send)

    def _send(self) -> None:
        while not self._stop.is_set():
            n = self.sent
            batch = [event("page_view", f"flow-{n + i}", time.time()) for i in range(20)]
            produce(self.app.kafka, batch)
            self.sent += len(batch)

    def __enter__(self) -> Traffic:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=60)


def shard_rules(app: App) -> list[dict[str, Any]]:
    return [s["rules"] for s in app.get("/v1/shards").json()["shards"]]


def in_force_everywhere(app: App, version: int) -> None:
    eventually(
        lambda: all(r["version"] == version for r in shard_rules(app)),
        30,
        f"every shard running rules version {version}",
        interval_s=0.2,
    )


def probes_for(app: App, customers: list[str], quiet_s: float = 3.0) -> set[str]:
    """The customers among `customers` the probe rule acted for."""
    reader = TopicReader(app.kafka.bootstrap or "", app.kafka.actions_topic)
    try:
        reader.read_until_quiet(quiet_s=quiet_s)
        actions = [json.loads(r.value) for r in reader.records]
    finally:
        reader.close()
    return {
        a["customer_id"]
        for a in actions
        if a["rule_id"] == "rules_probe" and a["customer_id"] in customers
    }


def processed(app: App) -> int:
    return sum(int(s.get("events", 0)) for s in app.get("/v1/shards").json()["shards"])


def test_a_push_while_traffic_flows_is_in_force_everywhere_and_a_rollback_undoes_it(
    engage_app: App,
    cli: None,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    pids = {s["shard"]: s["pid"] for s in engage_app.get("/v1/shards").json()["shards"]}
    before = processed(engage_app)
    with Traffic(engage_app) as traffic:
        push_and_roll_back(engage_app, tmp_path, capsys)
    # No shard restarted, and every event of the traffic was applied.
    assert {s["shard"]: s["pid"] for s in engage_app.get("/v1/shards").json()["shards"]} == pids
    assert traffic.sent > 0
    eventually(
        lambda: processed(engage_app) - before >= traffic.sent + 24,
        60,
        "every event sent while the rules changed applied",
        interval_s=0.5,
    )


def push_and_roll_back(app: App, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    engage_app = app
    seed = Path(engage_app.settings.actors.rules_file or "")
    # 1. The deployment's file as the first version: what the rollback comes back to.
    assert main(["rules", "push", str(seed), "-m", "the file the suite started with"]) == 0
    first = int(engage_app.request("GET", "/v1/rules", key=ADMIN_TOKEN).json()["version"])
    in_force_everywhere(engage_app, first)

    # 2. A new rule pushed from the CLI while traffic flows: every shard runs it.
    rules = yaml.safe_load(seed.read_text())
    rules["rules"].append(PROBE)
    candidate = tmp_path / "rules.yaml"
    candidate.write_text(yaml.safe_dump(rules))
    capsys.readouterr()
    assert main(["rules", "diff", str(candidate)]) == 0
    assert "+  id: rules_probe" in capsys.readouterr().out
    assert main(["rules", "push", str(candidate), "-m", "probe", "--by", "ana"]) == 0
    # Not first + 1: versions rolled back by earlier tests of the session stay kept.
    second = int(engage_app.request("GET", "/v1/rules", key=ADMIN_TOKEN).json()["version"])
    assert second > first
    in_force_everywhere(engage_app, second)
    on = [f"rv-on-{i}" for i in range(12)]
    produce(engage_app.kafka, [event("page_view", c, time.time()) for c in on])
    eventually(lambda: probes_for(engage_app, on, 0.5) == set(on), 30, "the new rule firing")

    # 3. A rollback over HTTP: the rule is gone everywhere.
    answer = engage_app.request("POST", "/v1/rules/rollback", key=ADMIN_TOKEN)
    assert answer.json() == {"version": first, "created": False}
    in_force_everywhere(engage_app, first)
    off = [f"rv-off-{i}" for i in range(12)]
    produce(engage_app.kafka, [event("page_view", c, time.time()) for c in off])
    eventually(
        lambda: all(engage_app.get(f"/v1/customers/{c}/context").json()["known"] for c in off),
        30,
        "the page views applied",
    )
    assert probes_for(engage_app, off) == set()

    # 4. Each version kept with who pushed it and why.
    capsys.readouterr()
    assert main(["rules", "list"]) == 0
    listing = capsys.readouterr().out
    assert f"* v{first}" in listing
    assert "the file the suite started with" in listing
    assert f"  v{second}" in listing
    assert "ana" in listing
    assert "rolled back" in listing
    assert all(r["error"] is None for r in shard_rules(engage_app))


def stream(prefix: str, at: float) -> list[Any]:
    """A few minutes of ordinary traffic for new customers: browsing, payments (a burst
    abroad among them), content watched to the end, carts bought."""
    events: list[Any] = []
    for n in range(24):
        customer = f"{prefix}{n:02d}"
        t = at + n
        category = ("electronics", "sports", "books")[n % 3]
        events += [
            event("product_view", customer, t + i, product_id=f"p{i}", category=category)
            for i in range(3 + n % 3)
        ]
        if n % 3 == 0:  # a burst of large payments abroad, each from a new device
            events += [
                event("card_payment", customer, t + 10 + i, amount=1500.0 + 100 * i,
                      country=("BR", "NG", "RU")[i % 3], device_id=f"{customer}-d{i}",
                      merchant_category="electronics", card_present=False)
                for i in range(5)
            ]  # fmt: skip
        if n % 4 == 0:
            events.append(event("content_view", customer, t + 20, completion=0.95))
        if n % 5 == 0:
            events += [event("cart_add", customer, t + 30), event("purchase", customer, t + 40)]
    return events


def test_a_backtest_of_the_rules_in_force_fires_what_the_live_run_fired(
    engage_app: App,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    settings = engage_app.settings
    for name, value in (
        ("ENGAGE_REDIS_URL", settings.redis.require_url()),
        ("ENGAGE_REDIS_PREFIX", settings.redis.prefix),
        ("ENGAGE_KAFKA_BOOTSTRAP", settings.kafka.require_bootstrap()),
        ("ENGAGE_KAFKA_EVENTS_TOPIC", settings.kafka.events_topic),
    ):
        monkeypatch.setenv(name, value)
    prefix = f"bt{int(time.time())}-"
    start = time.time() - 300
    sent = stream(prefix, start)
    before = processed(engage_app)
    produce(engage_app.kafka, sent)
    eventually(lambda: processed(engage_app) >= before + len(sent), 60, "the stream applied")
    reader = TopicReader(engage_app.kafka.bootstrap or "", engage_app.kafka.actions_topic)
    try:
        reader.read_until_quiet(quiet_s=3.0)
        actions = [json.loads(r.value) for r in reader.records]
    finally:
        reader.close()
    live = Counter(a["rule_id"] for a in actions if a["customer_id"].startswith(prefix))
    assert sum(live.values()) >= 24, live
    assert {"browse_offer", "fraud_alert", "next_content"} <= live.keys(), live

    # The same events as `engage export` would write them (the shared topic holds other
    # tests' traffic of the same minutes).
    exported = tmp_path / "stream.jsonl"
    exported.write_bytes(b"".join(event_to_json(e) + b"\n" for e in sent))
    capsys.readouterr()
    rules_file = settings.actors.rules_file or ""
    assert main(["rules", "backtest", rules_file, "--from", str(exported)]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["events"] == len(sent)
    replayed = {
        rule: row["verdicts"].get("deliver", 0)
        for rule, row in summary["rules"].items()
        if row["verdicts"].get("deliver", 0)
    }
    assert replayed == dict(live)
    # The file is the rules in force (pushed, or the deployment's): nothing differs.
    assert all(row["fired_vs_live"] == 0 for row in summary["rules"].values())
