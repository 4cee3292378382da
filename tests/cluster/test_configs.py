"""The cluster definitions pass Ray's own validation, and the settings reach the nodes."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from ray.autoscaler._private.util import prepare_config, validate_config

from engage.cli import main
from engage.runtime import RAY_ENVIRONMENT

ROOT = Path(__file__).parents[2]


@pytest.mark.parametrize("name", ["cluster.yaml", "cluster.local.yaml"])
def test_the_cluster_definition_passes_rays_validation(name: str) -> None:
    config = prepare_config(yaml.safe_load((ROOT / name).read_text()))
    validate_config(config)
    # What `ray up` reads without a default for the local provider.
    for key in (
        "initialization_commands",
        "setup_commands",
        "head_setup_commands",
        "worker_setup_commands",
        "head_start_ray_commands",
        "worker_start_ray_commands",
        "file_mounts",
        "cluster_synced_files",
        "rsync_exclude",
    ):
        assert key in config, key
    assert config["file_mounts"]["~/engage-src"] == "."
    assert config["file_mounts"]["~/engage.env"] == ".cache/engage.env"
    commands = " ".join(config["head_start_ray_commands"])
    assert "serve deploy ~/engage-src/serve_config.yaml" in commands
    assert ". ~/engage.env" in commands


@pytest.mark.parametrize("name", ["cluster.yaml", "cluster.local.yaml"])
def test_every_node_starts_ray_as_a_local_engage_does(name: str) -> None:
    config = yaml.safe_load((ROOT / name).read_text())
    starts = [
        command
        for key in ("head_start_ray_commands", "worker_start_ray_commands")
        for command in config[key]
        if "ray start" in command
    ]
    assert len(starts) == 2
    for command in starts:
        for variable, value in RAY_ENVIRONMENT.items():
            if variable != "RAY_USAGE_STATS_ENABLED":  # a cluster's operator decides that
                assert f"export {variable}={value} " in command, (variable, command)


def test_the_aws_definition_bounds_its_workers() -> None:
    config = yaml.safe_load((ROOT / "cluster.yaml").read_text())
    worker = config["available_node_types"]["worker"]
    assert 0 < worker["min_workers"] <= worker["max_workers"] <= config["max_workers"]


def test_serve_config_names_the_three_deployments() -> None:
    config = yaml.safe_load((ROOT / "serve_config.yaml").read_text())
    (application,) = config["applications"]
    assert application["import_path"] == "engage.deploy:app"
    names = {d["name"] for d in application["deployments"]}
    assert names == {"Api", "Scorer", "Ingest"}
    scorer = next(d for d in application["deployments"] if d["name"] == "Scorer")
    assert {"max_batch_size", "batch_wait_timeout_s", "poll_s"} <= set(scorer["user_config"])
    assert (
        scorer["autoscaling_config"]["max_replicas"] >= scorer["autoscaling_config"]["min_replicas"]
    )


def test_cluster_env_writes_the_shells_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ENGAGE_KAFKA_BOOTSTRAP", "b-1.msk:9096")
    monkeypatch.setenv("ENGAGE_REDIS_URL", "rediss://:p w@r:6379/0")
    out = tmp_path / "engage.env"
    assert main(["cluster-env", "--out", str(out)]) == 0
    text = out.read_text()
    assert "ENGAGE_KAFKA_BOOTSTRAP=b-1.msk:9096\n" in text
    assert "ENGAGE_REDIS_URL='rediss://:p w@r:6379/0'\n" in text
    assert "ENGAGE_RAY_ADDRESS=auto\n" in text
    assert out.stat().st_mode & 0o077 == 0


def test_cluster_env_refuses_without_kafka_and_redis(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["cluster-env", "--out", str(tmp_path / "x")]) == 2
    assert "ENGAGE_KAFKA_BOOTSTRAP and ENGAGE_REDIS_URL" in capsys.readouterr().err


def test_cluster_env_on_rabbitmq_needs_its_url_not_kafka(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ENGAGE_BROKER", "rabbitmq")
    monkeypatch.setenv("ENGAGE_REDIS_URL", "rediss://r:6379/0")
    assert main(["cluster-env", "--out", str(tmp_path / "x")]) == 2
    assert "a cluster needs ENGAGE_RABBITMQ_URL (its own" in capsys.readouterr().err
    monkeypatch.setenv("ENGAGE_RABBITMQ_URL", "amqps://engage:pw@mq:5671/prod")
    out = tmp_path / "engage.env"
    assert main(["cluster-env", "--out", str(out)]) == 0
    text = out.read_text()
    assert "ENGAGE_BROKER=rabbitmq\n" in text
    assert "ENGAGE_RABBITMQ_URL=amqps://engage:pw@mq:5671/prod\n" in text
