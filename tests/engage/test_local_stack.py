"""Commands in a second terminal find the stack `make demo` / `engage up` runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import SecretStr

from engage.local_stack import adopt, discovered, published, settings_of
from engage.settings import Settings, load_settings
from serving.config import ApiConfig


def running_settings() -> Settings:
    return load_settings(
        kafka={"bootstrap": "127.0.0.1:39092"},
        redis={"url": "redis://127.0.0.1:36379/0"},
        serve={"port": 8123},
        api=ApiConfig(
            write_keys=(SecretStr("wk_1"),),
            read_keys=(SecretStr("rk_1"),),
            admin_token=SecretStr("adm_1"),
        ),
    )


def test_a_running_stack_is_found_and_forgotten_when_it_ends(tmp_path: Path) -> None:
    path = tmp_path / "local.json"
    with published(settings_of(running_settings()), path):
        found = discovered(path)
        assert found["ENGAGE_REDIS_URL"] == "redis://127.0.0.1:36379/0"
        assert path.stat().st_mode & 0o077 == 0  # it holds keys: the owner's only
    assert not path.exists()
    assert discovered(path) == {}


def test_what_a_run_publishes_is_read_back_as_the_same_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = running_settings()
    for name, value in settings_of(original).items():
        monkeypatch.setenv(name, value)
    again = load_settings()
    assert again.kafka.bootstrap == original.kafka.bootstrap
    assert again.redis.url == original.redis.url
    assert again.serve.port == 8123
    assert [k.get_secret_value() for k in again.api.read_keys] == ["rk_1"]
    assert again.api.admin_token is not None
    assert again.api.admin_token.get_secret_value() == "adm_1"


def test_a_run_on_rabbitmq_publishes_its_broker_and_no_kafka(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A second terminal beside `make demo BROKER=rabbitmq` sends where that run listens."""
    on_rabbitmq = load_settings(
        broker="rabbitmq",
        rabbitmq={"url": SecretStr("amqp://guest:guest@127.0.0.1:35672/%2F")},
        redis={"url": "redis://127.0.0.1:36379/0"},
    )
    published_settings = settings_of(on_rabbitmq)
    assert "ENGAGE_KAFKA_BOOTSTRAP" not in published_settings
    for name, value in published_settings.items():
        monkeypatch.setenv(name, value)
    again = load_settings()
    assert again.broker == "rabbitmq"
    assert again.rabbitmq.require_url() == "amqp://guest:guest@127.0.0.1:35672/%2F"
    assert again.kafka.bootstrap is None


def test_a_file_left_by_a_killed_run_is_ignored(tmp_path: Path) -> None:
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    path = tmp_path / "local.json"
    path.write_text(json.dumps({"pid": int(gone.stdout), "settings": {"ENGAGE_REDIS_URL": "x"}}))
    assert discovered(path) == {}


def test_an_explicit_setting_wins_over_the_running_stacks(tmp_path: Path) -> None:
    path = tmp_path / "local.json"
    environ = {"ENGAGE_REDIS_URL": "redis://elsewhere:6379/0"}
    with published(settings_of(running_settings()), path):
        taken = adopt(environ, path)
    assert environ["ENGAGE_REDIS_URL"] == "redis://elsewhere:6379/0"
    assert "ENGAGE_REDIS_URL" not in taken
    assert environ["ENGAGE_KAFKA_BOOTSTRAP"] == "127.0.0.1:39092"


def test_a_command_takes_a_local_runs_settings_for_itself_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import engage.cli as cli

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ENGAGE_REDIS_URL", raising=False)
    seen: dict[str, str | None] = {}

    def settings_seen() -> Settings:
        seen["url"] = os.environ.get("ENGAGE_REDIS_URL")
        return load_settings()

    monkeypatch.setattr(cli, "load_settings", settings_seen)
    rules = Path(__file__).parents[2] / "actors" / "rules" / "rulesets" / "default.yaml"
    with published({"ENGAGE_REDIS_URL": "redis://127.0.0.1:36379/0"}):
        assert cli.main(["rules", "check", str(rules)]) == 0
    assert seen["url"] == "redis://127.0.0.1:36379/0"
    assert "ENGAGE_REDIS_URL" not in os.environ  # the test process is left as it was
