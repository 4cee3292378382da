"""The KubeRay RayService runs the Serve application `serve deploy` runs: its serveConfigV2
passes Ray Serve's own schema and equals serve_config.yaml where they overlap, and its pods
start Ray as every other engage node does, with the settings from one Secret."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from ray.serve.schema import ServeDeploySchema

from engage.cli import main
from engage.runtime import RAY_ENVIRONMENT

ROOT = Path(__file__).parents[2]
MANIFEST = ROOT / "deploy" / "kuberay" / "rayservice.yaml"


def service() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(MANIFEST.read_text())
    return loaded


def containers(spec: dict[str, Any]) -> list[dict[str, Any]]:
    cluster = spec["rayClusterConfig"]
    groups = [cluster["headGroupSpec"], *cluster["workerGroupSpecs"]]
    return [c for g in groups for c in g["template"]["spec"]["containers"]]


def test_the_serve_config_passes_ray_serves_schema_and_equals_serve_deploys() -> None:
    manifest = service()
    assert (manifest["apiVersion"], manifest["kind"]) == ("ray.io/v1", "RayService")
    served = yaml.safe_load(manifest["spec"]["serveConfigV2"])
    ServeDeploySchema.model_validate(served)
    deployed = yaml.safe_load((ROOT / "serve_config.yaml").read_text())
    overlap = set(served) & set(deployed)
    assert overlap == {"proxy_location", "applications"}
    assert {key: served[key] for key in overlap} == {key: deployed[key] for key in overlap}


def test_a_changed_deployment_in_one_file_only_is_caught() -> None:
    served = yaml.safe_load(service()["spec"]["serveConfigV2"])
    deployed = yaml.safe_load((ROOT / "serve_config.yaml").read_text())
    served["applications"][0]["deployments"][0]["num_replicas"] = 7
    assert served["applications"] != deployed["applications"]
    served["applications"][0]["deployments"][0]["num_replicas"] = "many"
    with pytest.raises(ValueError, match="num_replicas"):
        ServeDeploySchema.model_validate(served)


def test_every_pod_runs_rays_version_with_engages_environment_and_settings() -> None:
    spec = service()["spec"]
    import ray

    assert spec["rayClusterConfig"]["rayVersion"] == ray.__version__
    pods = containers(spec)
    assert len(pods) == 2
    for container in pods:
        env = {e["name"]: e["value"] for e in container["env"]}
        assert env == RAY_ENVIRONMENT
        assert container["envFrom"] == [{"secretRef": {"name": "engage-settings"}}]
        assert container["image"] == "engage:0.1.0"
    dockerfile = (ROOT / "deploy" / "kuberay" / "Dockerfile").read_text()
    assert f"FROM rayproject/ray:{ray.__version__}-py311" in dockerfile


def test_the_secrets_env_file_is_what_kubectl_reads_unquoted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ENGAGE_KAFKA_BOOTSTRAP", "b-1.msk:9096")
    monkeypatch.setenv("ENGAGE_REDIS_URL", "rediss://:p w@r:6379/0")
    out = tmp_path / "engage.env"
    assert main(["cluster-env", "--kubernetes", "--out", str(out)]) == 0
    lines = out.read_text().splitlines()
    assert "ENGAGE_REDIS_URL=rediss://:p w@r:6379/0" in lines
    assert "ENGAGE_RAY_ADDRESS=auto" in lines
    assert out.stat().st_mode & 0o077 == 0
