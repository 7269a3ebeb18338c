"""The house's layout: no import circles, and imports that run the documented way.

Every import counts as an edge — at module level, inside a function, and under
``TYPE_CHECKING`` — because a circle through any of them means two modules that cannot be
understood (or moved) apart. Read from the source with ``ast``; nothing is imported.
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path

import pytest

from tests.conftest import ROOT

PACKAGES = ("envs", "agents", "scenarios", "experiments")


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for pkg in PACKAGES for p in sorted((ROOT / pkg).rglob("*.py"))}


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    """The project module ``name`` refers to (a name inside a module resolves to the module)."""
    while name:
        if name in modules:
            return name
        name = name.rpartition(".")[0]
    return None


@functools.cache
def import_graph() -> dict[str, set[str]]:
    """Module -> the project modules it imports, anywhere in its source."""
    modules = _modules()
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for mod, path in modules.items():
        package = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")
                    anchor = anchor[: len(anchor) - (node.level - 1)]
                    base = ".".join([*anchor, base] if base else anchor)
                # ``from pkg import mod`` imports pkg.mod; ``from mod import name``, mod
                targets = [f"{base}.{a.name}" for a in node.names]
            for t in targets:
                dep = _resolve(t, modules)
                if dep is not None and dep != mod:
                    graph[mod].add(dep)
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_the_graph_sees_every_kind_of_import() -> None:
    """The reader finds module-level, function-level and TYPE_CHECKING imports."""
    g = import_graph()
    assert "agents.org" in g["agents.slots.runner"]  # module level
    assert "agents.deploy.runtime" in g["agents.slots.resolve"]  # inside a function
    assert "agents.org" in g["agents.slots.resolve"]  # under TYPE_CHECKING


def test_circles_are_found() -> None:
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_circles() -> None:
    found = circles(import_graph())
    assert not found, "import circles (each a set of modules that import each other): " + "; ".join(
        " <-> ".join(c) for c in found
    )


ADAPTERS = tuple(
    m
    for m in import_graph()
    if m.startswith("envs.") and not m.startswith("envs.sim") and m != "envs"
)
"""The Gymnasium adapters: every module of envs/ outside envs/sim (found, not listed)."""


@pytest.mark.parametrize(
    ("layer", "forbidden"),
    [
        ("scenarios", ("envs", "agents", "experiments")),
        ("envs.sim", ("agents", "experiments", *ADAPTERS)),
        ("agents", ("experiments", *ADAPTERS)),
        ("envs", ("experiments",)),
    ],
)
def test_imports_run_the_documented_way(layer: str, forbidden: tuple[str, ...]) -> None:
    """experiments -> envs (adapters) -> agents -> envs.sim -> scenarios (DESIGN §1)."""
    bad = sorted(
        f"{m} -> {d}"
        for m, deps in import_graph().items()
        if m == layer or m.startswith(layer + ".")
        for d in deps
        if any(d == f or d.startswith(f + ".") for f in forbidden)
    )
    assert not bad, f"{layer} must not import {', '.join(forbidden)}: {bad}"


def test_the_organization_imports_no_slot_scoring_or_deploy_module() -> None:
    """The organization's own modules (agents/*.py) build on analytics only of the sub-packages."""
    graph = import_graph()
    top = {m for m in graph if m.count(".") == 1 and m.startswith("agents.")}
    bad = sorted(
        f"{m} -> {d}"
        for m in top
        for d in graph[m]
        if d.startswith(("agents.slots", "agents.scoring", "agents.deploy"))
    )
    assert not bad, bad
