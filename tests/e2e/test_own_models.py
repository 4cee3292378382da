"""A team's own model on a running engage: registered under a name of its own from a skops
file, read by a rule that fires its action; a second version scored in shadow, compared,
promoted while traffic flows; its live features watched for drift against the rows it was
fitted on, and only those. Real Kafka-protocol broker, Redis, Ray Serve."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import skops.io as sio
import yaml
from sklearn.linear_model import LogisticRegression

from engage.cli import main
from tests.conftest import ADMIN_TOKEN, App
from tests.eventually import eventually
from tests.kafka_support import TopicReader, produce
from tests.support import event

pytestmark = [pytest.mark.integration, pytest.mark.kafka]

VIEW = "orders,session_page_views"
RULE = {
    "id": "engaged_visitor",
    "description": "A visitor the team's own model finds engaged is shown what is new.",
    "kind": "service",
    "triggers": ["page_view"],
    "when": "'om-' in customer.customer_id and scores.engaged > 0.5",
    "cooldown": "1h",
    "action": {
        "type": "content_recommendation",
        "channel": "in_app",
        "template": "engaged {scores.engaged}",
    },
}


def fit(tmp_path: Path, version: int) -> Path:
    """The notebook: engaged means a second page view in the session, fitted on rows
    where sessions are one or two views long and half the visitors have ordered (the
    reference drift compares with)."""
    rng = np.random.default_rng(version)
    orders = rng.integers(0, 2, size=400).astype(float)
    views = rng.integers(1, 3, size=400).astype(float)
    rows = tmp_path / f"rows-{version}.csv"
    rows.write_text(
        "orders,session_page_views\n"
        + "".join(f"{o},{v}\n" for o, v in zip(orders, views, strict=True))
    )
    model = LogisticRegression(C=1.0 / version).fit(np.column_stack([orders, views]), views >= 2)
    path = tmp_path / f"engaged-{version}.skops"
    sio.dump(model, path)
    return path


def register(tmp_path: Path, version: int, *extra: str) -> None:
    path = fit(tmp_path, version)
    reference = str(tmp_path / f"rows-{version}.csv")
    args = ["models", "register", "engaged", str(path), "--features", VIEW]
    assert main([*args, "--reference", reference, *extra]) == 0


def browse(app: App, customers: list[str], views: int) -> None:
    now = time.time()
    produce(
        app.kafka,
        [event("page_view", c, now + i, url=f"/{i}") for c in customers for i in range(views)],
    )


def actions_for(reader: TopicReader, customers: list[str]) -> dict[str, dict[str, Any]]:
    reader.read_until_quiet(quiet_s=0.5)
    found = {}
    for record in reader.records:
        action = json.loads(record.value)
        if action["rule_id"] == RULE["id"] and action["customer_id"] in customers:
            found[action["customer_id"]] = action
    return found


def test_a_registered_model_is_read_by_a_rule_shadowed_promoted_and_watched_for_drift(
    engage_app: App, cli: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def served(role: str) -> str | None:
        scorer = engage_app.get("/v1/models", key=ADMIN_TOKEN).json()["scorer"]
        version: str | None = scorer["versions"].get("engaged", {}).get(role)
        return version

    seed = Path(engage_app.settings.actors.rules_file or "")
    rules = yaml.safe_load(seed.read_text())
    rules["rules"].append(RULE)
    candidate = tmp_path / "rules.yaml"
    candidate.write_text(yaml.safe_dump(rules))
    # 1. Rules cannot read a model before it is registered.
    assert main(["rules", "push", str(candidate)]) == 1
    assert "no model named 'engaged' is registered" in capsys.readouterr().out

    register(tmp_path, 1, "--promote")
    assert main(["rules", "push", str(candidate), "-m", "the engaged model"]) == 0
    version = int(engage_app.request("GET", "/v1/rules", key=ADMIN_TOKEN).json()["version"])
    reader = TopicReader(engage_app.kafka.bootstrap or "", engage_app.kafka.actions_topic)
    try:
        eventually(
            lambda: all(
                s["rules"]["version"] == version
                for s in engage_app.get("/v1/shards").json()["shards"]
            ),
            30,
            "the rules reading scores.engaged in force",
        )
        # A rule reading a model the scorer does not serve yet holds (the score is
        # missing), and the event is not asked again: the champion must be served first.
        eventually(lambda: served("champion") == "1", 30, "the champion loaded")
        # 2. The rule fires on the model's score: engaged visitors, not one-page ones.
        hot, cold = [f"om-hot-{i}" for i in range(6)], [f"om-cold-{i}" for i in range(6)]
        browse(engage_app, hot, 3)
        browse(engage_app, cold, 1)
        eventually(lambda: set(actions_for(reader, hot)) == set(hot), 60, "the engaged acted for")
        eventually(
            lambda: all(engage_app.get(f"/v1/customers/{c}/context").json()["known"] for c in cold),
            30,
            "the one-page visits applied",
        )
        fired = actions_for(reader, hot + cold)
        assert set(fired) == set(hot)
        assert all(a["model_versions"]["engaged"] == "1" for a in fired.values())
        assert all(a["scores"]["engaged"] > 0.5 for a in fired.values())

        # 3. A second version in shadow, compared with the champion on live requests.
        register(tmp_path, 2)
        assert main(["models", "shadow", "engaged", "2"]) == 0

        eventually(lambda: served("challenger") == "2", 30, "the challenger loaded")
        browse(engage_app, [f"om-shadow-{i}" for i in range(10)], 2)

        def compared() -> dict[str, Any]:
            capsys.readouterr()
            assert main(["models", "compare", "engaged"]) == 0
            result: dict[str, Any] = json.loads(capsys.readouterr().out)
            return result

        eventually(lambda: compared()["samples"] >= 10, 60, "shadow pairs for engaged")
        assert (compared()["champion"], compared()["challenger"]) == ("1", "2")

        # 4. Promoted while traffic flows: the rule reads the new champion.
        assert main(["models", "promote", "engaged", "2"]) == 0

        def served_by_two() -> bool:
            browse(engage_app, [f"om-later-{time.monotonic_ns()}"], 2)
            reader.read_until_quiet(quiet_s=0.5)
            versions = [
                json.loads(r.value)["model_versions"]
                for r in reader.records
                if json.loads(r.value)["rule_id"] == RULE["id"]
            ]
            return any(v.get("engaged") == "2" for v in versions)

        eventually(served_by_two, 60, "actions scored by engaged v2", interval_s=1.0)

        # 5. Drift: it was fitted on rows where half the visitors had ordered; live, none
        # of these has. (Each is asked about until the rule fires and its cooldown starts,
        # at the second view: sessions as long as the fitted ones.)
        browse(engage_app, [f"om-new-{i}" for i in range(200)], 3)

        def drift() -> dict[str, Any]:
            answer = engage_app.get("/v1/models/engaged/drift?window=10m", key=ADMIN_TOKEN)
            assert answer.status_code == 200, answer.text
            result: dict[str, Any] = answer.json()
            return result

        eventually(lambda: drift()["live_rows"] >= 400, 60, "the long sessions counted")
        result = drift()
        assert result["version"] == 2
        assert result["drifted_features"] == ["orders"], result
        assert result["features"]["session_page_views"] < 0.1
        assert "amount_log" not in result["features"]  # outside its view: never compared
    finally:
        reader.close()
        assert main(["rules", "push", str(seed), "-m", "without the engaged rule"]) == 0
