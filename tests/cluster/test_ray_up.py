"""A real `ray up`: the local-provider cluster on this machine over SSH to 127.0.0.1.

The test runs its own SSH server (on 127.0.0.1:22, with throw-away host and client keys),
brings cluster.local.yaml up with the head on 127.0.0.1, deploys the application with
`serve deploy serve_config.yaml`, asks for a next-best-offer over HTTP, and takes the
cluster down with `ray down`. Only what must differ on a single test machine is changed:
the addresses, the key, free ports, and the existing virtualenv instead of a new one.

Runs in its own pytest process (`-m cluster`): `ray down` stops Ray on the node.
"""

from __future__ import annotations

import getpass
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import yaml

from engage.processes import die_with_parent, free_port

# A cluster of its own starts and stops within the test.
pytestmark = [pytest.mark.integration, pytest.mark.cluster, pytest.mark.timeout(1800)]

ROOT = Path(__file__).parents[2]
VENV_BIN = Path(sys.executable).parent
READ_KEY = "cluster-read-key"


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture
def ssh_server(tmp_path: Path) -> Iterator[Path]:
    """sshd on 127.0.0.1:22 trusting one fresh key; yields the private key's path."""
    sshd = shutil.which("sshd") or "/usr/sbin/sshd"
    if not Path(sshd).exists() or not shutil.which("rsync"):
        pytest.fail("ray up over SSH needs openssh-server and rsync (.ci/run installs them)")
    if _port_open(22):
        pytest.fail("something already listens on 127.0.0.1:22; the test runs its own sshd there")
    keys = tmp_path / "ssh"
    keys.mkdir()
    for name in ("host", "client"):
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(keys / name)], check=True
        )
    (keys / "authorized_keys").write_text((keys / "client.pub").read_text())
    config = keys / "sshd_config"
    config.write_text(
        "\n".join(
            [
                "Port 22",
                "ListenAddress 127.0.0.1",
                f"HostKey {keys / 'host'}",
                f"AuthorizedKeysFile {keys / 'authorized_keys'}",
                "PermitRootLogin prohibit-password",
                "PasswordAuthentication no",
                "KbdInteractiveAuthentication no",
                "PubkeyAuthentication yes",
                "UsePAM no",
                "StrictModes no",
                f"PidFile {keys / 'sshd.pid'}",
                "Subsystem sftp internal-sftp",
                "",
            ]
        )
    )
    Path("/run/sshd").mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen(
        [sshd, "-D", "-e", "-f", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        preexec_fn=die_with_parent,
    )
    deadline = time.monotonic() + 10
    while not _port_open(22):
        assert process.poll() is None, "sshd exited"
        assert time.monotonic() < deadline, "sshd did not listen"
        time.sleep(0.1)
    yield keys / "client"
    process.terminate()
    process.wait(timeout=10)


def cluster_config(
    tmp_path: Path, key: Path, env_file: Path, serve_file: Path, gcs: int, dashboard: int
) -> Path:
    config = yaml.safe_load((ROOT / "cluster.local.yaml").read_text())
    config["cluster_name"] = f"engage-test-{os.getpid()}"
    config["provider"].update(head_ip="127.0.0.1", worker_ips=[])
    config["auth"] = {"ssh_user": getpass.getuser(), "ssh_private_key": str(key)}
    config["max_workers"] = 0
    for node_type in config["available_node_types"].values():
        node_type.update(min_workers=0, max_workers=0)
    config["file_mounts"] = {
        "~/engage-src": str(ROOT),
        "~/engage.env": str(env_file),
        "~/engage.serve_config.yaml": str(serve_file),
    }
    config["setup_commands"] = []  # the test machine already has engage installed
    env = "set -a && . ~/engage.env && set +a"
    config["head_start_ray_commands"] = [
        f"{env} && {VENV_BIN}/ray start --head --port={gcs} --num-cpus=4"
        f" --dashboard-host=127.0.0.1 --dashboard-port={dashboard} --disable-usage-stats"
        " --autoscaling-config=~/ray_bootstrap_config.yaml",
        f"{env} && RAY_AUTH_MODE=token {VENV_BIN}/serve deploy ~/engage.serve_config.yaml"
        f" --address http://127.0.0.1:{dashboard}",
    ]
    config["worker_start_ray_commands"] = []
    path = tmp_path / "cluster.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_ray_up_serve_deploy_next_best_offer_ray_down(
    ssh_server: Path, tmp_path: Path, bootstrap: str, redis_url: str
) -> None:
    http_port, gcs, dashboard = free_port(), free_port(), free_port()
    # A checkout left at ~/engage by an older cluster config would be imported as the
    # `engage` package by the processes Ray starts in the home directory.
    stale = Path.home() / "engage"
    if (stale / "serve_config.yaml").exists():
        shutil.rmtree(stale)
    env_file = tmp_path / "engage.env"
    env_file.write_text(
        "\n".join(
            [
                f"ENGAGE_KAFKA_BOOTSTRAP={bootstrap}",
                f"ENGAGE_REDIS_URL={redis_url}",
                "ENGAGE_REDIS_PREFIX=rayup",
                "ENGAGE_KAFKA_GROUP_ID=rayup-ingest",
                "ENGAGE_RAY_ADDRESS=auto",
                "ENGAGE_RAY_NAMESPACE=engage-rayup",
                f"ENGAGE_API_READ_KEYS='[\"{READ_KEY}\"]'",
                "RAY_USAGE_STATS_ENABLED=0",
                "",
            ]
        )
    )
    # serve_config.yaml as shipped, on a free port and with one replica of each.
    serve_config = yaml.safe_load((ROOT / "serve_config.yaml").read_text())
    serve_config["http_options"] = {"host": "127.0.0.1", "port": http_port}
    for deployment in serve_config["applications"][0]["deployments"]:
        deployment.pop("autoscaling_config", None)
        deployment["num_replicas"] = 1
    serve_file = tmp_path / "serve_config.yaml"
    serve_file.write_text(yaml.safe_dump(serve_config))
    # First models, as the data scientists would have registered them.
    from training.pipeline import ensure_models
    from training.registry import ModelRegistry

    registry = ModelRegistry(redis_url, "rayup")
    ensure_models(registry, customers=500, days=45)
    registry.close()

    config = cluster_config(tmp_path, ssh_server, env_file, serve_file, gcs, dashboard)
    ray = str(VENV_BIN / "ray")
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    up = subprocess.run(
        [ray, "up", "-y", "--no-config-cache", str(config)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    try:
        assert up.returncode == 0, up.stdout[-4000:] + up.stderr[-4000:]
        deadline = time.monotonic() + 240
        answer = None
        while time.monotonic() < deadline:
            try:
                answer = requests.get(
                    f"http://127.0.0.1:{http_port}/v1/customers/c000001/next-best-offer?k=2",
                    headers={"Authorization": f"Bearer {READ_KEY}"},
                    timeout=10,
                )
                if answer.status_code == 200:
                    break
            except requests.RequestException:
                pass
            time.sleep(2)
        assert answer is not None
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert len(body["offers"]) == 2
        assert body["model"]["name"] == "recommender"
    finally:
        down = subprocess.run(
            [ray, "down", "-y", str(config)],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        subprocess.run([ray, "stop", "--force"], env=env, capture_output=True, timeout=120)
    assert down.returncode == 0, down.stdout[-3000:] + down.stderr[-3000:]
