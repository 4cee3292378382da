"""The import graph: engage's packages depend one way only, and no modules import each
other in a cycle. An upward import (the core reaching for the API, storage reaching for
the shard host) fails here before it becomes a tangle.

Imports under `if TYPE_CHECKING:` are left out: they exist for the type checker only."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TOP = ("actors", "training", "serving", "engage", "bench")

# Top-level packages, each importing only those before it.
TOP_ORDER = ["actors", "training", "serving", "engage", "bench"]

# Inside `actors`, lowest first: a package imports only from its own layer's leaf
# utilities and the layers before it. Packages in one layer do not import each other.
ACTORS_LAYERS: list[set[str]] = [
    {"errors", "metrics", "logs", "gc_tuning", "ray_metrics"},
    {"model"},
    {"config"},
    {"rules", "storage"},
    {"catalog", "campaigns"},
    {"outcomes", "decisions"},
    {"turn"},
    {"delivery"},
    {"brokers"},
    {"hosting"},
    {"ingest"},
]


def modules() -> Iterator[tuple[str, Path]]:
    for top in TOP:
        for path in sorted((ROOT / top).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            yield ".".join(parts), path


def runtime_imports(path: Path) -> set[str]:
    """Modules of engage `path` imports when it runs (not for type checking only)."""
    tree = ast.parse(path.read_text())
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped |= {id(n) for n in ast.walk(node)}
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
    return {m for m in found if m.split(".")[0] in TOP}


GRAPH = {name: runtime_imports(path) for name, path in modules()}


def actors_layer(module: str) -> int:
    part = module.split(".")[1] if module.count(".") else ""
    for index, layer in enumerate(ACTORS_LAYERS):
        if part in layer:
            return index
    raise AssertionError(f"{module}: its package is in no layer of ACTORS_LAYERS")


def test_top_level_packages_import_only_those_below_them() -> None:
    upward = [
        f"{source} imports {target}"
        for source, targets in GRAPH.items()
        for target in targets
        if TOP_ORDER.index(target.split(".")[0]) > TOP_ORDER.index(source.split(".")[0])
    ]
    assert upward == []


def test_the_core_packages_import_only_their_layer_and_below() -> None:
    wrong = []
    for source, targets in GRAPH.items():
        if not source.startswith("actors.") or source.count(".") < 1:
            continue
        mine = actors_layer(source)
        own = source.split(".")[1]
        for target in targets:
            if not target.startswith("actors.") or target.split(".")[1] == own:
                continue
            theirs = actors_layer(target)
            if theirs > mine or (theirs == mine and mine > 0):
                wrong.append(f"{source} imports {target}")
    assert wrong == []


def test_no_modules_import_each_other_in_a_cycle() -> None:
    known = set(GRAPH)

    def resolve(target: str) -> str | None:
        # `from actors.model import x` may name a module or a name in a package.
        while target and target not in known:
            target = target.rpartition(".")[0]
        return target or None

    edges = {
        source: {t for t in map(resolve, targets) if t is not None and t != source}
        for source, targets in GRAPH.items()
    }
    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(edges[node]):
            if state.get(nxt) == 1:
                cycles.append([*path[path.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node, [node])
    assert cycles == []


@pytest.mark.parametrize("layer", [sorted(layer) for layer in ACTORS_LAYERS])
def test_every_layer_names_a_real_part_of_the_core(layer: list[str]) -> None:
    for name in layer:
        assert (ROOT / "actors" / name).is_dir() or (ROOT / "actors" / f"{name}.py").is_file()
