"""Who may import whom among the trees that hold Python: the parts (compiler/, runtime/,
edge_server/) import neither tests/ nor benchmarks/; benchmarks/ and edge_worker/bench/ never
import tests/; tests/ never imports benchmarks/, except tests/benchmarks/, the tests of the
benchmarks' own simulations. What tests and benchmarks share is the harness (compiler/harness/,
edge_server/harness/), which loads without pytest and Hypothesis so a benchmark runs without the
test extras. (tests/runtime/test_imports.py holds the parts' own order: runtime below compiler
below the server.)"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

from compiler.harness.fixtures import ROOT

#: tree -> the top-level packages no file of it may import
FORBIDDEN = {
    "compiler": {"tests", "benchmarks"},
    "runtime": {"tests", "benchmarks"},
    "edge_server": {"tests", "benchmarks"},
    "benchmarks": {"tests"},
    "edge_worker/bench": {"tests"},
    "tests": {"benchmarks"},
}
#: the tests of benchmarks/ itself (its simulations) import what they test
ALLOWED = {("tests/benchmarks", "benchmarks")}


def imported_packages(path: Path) -> set[tuple[str, int]]:
    """The top-level package of every absolute import in ``path``, with its line."""
    found: set[tuple[str, int]] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {(a.name.split(".")[0], node.lineno) for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add((node.module.split(".")[0], node.lineno))
    return found


def violations(root: Path, tree: str, forbidden: set[str]) -> list[str]:
    out = []
    for path in sorted((root / tree).rglob("*.py")):
        if "node_modules" in path.parts:
            continue
        for top, line in sorted(imported_packages(path)):
            if top in forbidden and not any(path.is_relative_to(root / d) and top == t for d, t in ALLOWED):
                out.append(f"{path.relative_to(root)}:{line} imports {top}/: move what both share into compiler/harness/ or edge_server/harness/")
    return out


@pytest.mark.parametrize("tree", sorted(FORBIDDEN))
def test_import_direction_between_trees(tree: str) -> None:
    assert list((ROOT / tree).rglob("*.py")), f"{tree} holds no Python file: update FORBIDDEN"
    assert violations(ROOT, tree, FORBIDDEN[tree]) == []


def test_import_direction_check_sees_an_import_back(tmp_path: Path) -> None:
    """The check above fails on the imports it forbids, in either spelling, and passes
    tests/benchmarks/ importing the benchmarks it tests."""
    for tree, text in (("benchmarks", "from tests.conftest import CREATED\n"), ("edge_worker/bench", "import tests.edge_server.server\n"),
                       ("tests/runtime", "from benchmarks import sim_fleet\n"), ("edge_server", "import benchmarks.sim_fleet as f\n")):
        (tmp_path / tree).mkdir(parents=True)
        (tmp_path / tree / "m.py").write_text(text)
        top = tree.split("/")[0] if tree != "edge_worker/bench" else tree
        assert len(violations(tmp_path, top, FORBIDDEN[top])) == 1, tree
    (tmp_path / "tests" / "benchmarks").mkdir()
    (tmp_path / "tests" / "benchmarks" / "test_sim.py").write_text("from benchmarks.sim_fleet import Fleet\n")
    assert len(violations(tmp_path, "tests", FORBIDDEN["tests"])) == 1  # tests/runtime/m.py only


def test_import_direction_harness_loads_without_test_tools() -> None:
    """Every harness module imports in a fresh interpreter without pytest, Hypothesis, tests/ or
    benchmarks/ (the benchmarks' environment has no test extras)."""
    mods = sorted(f"{part}.harness.{p.stem}" for part in ("compiler", "edge_server") for p in (ROOT / part / "harness").glob("*.py") if p.stem != "__init__")
    code = f"import sys, json; [__import__(m) for m in {mods!r}]; print(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}})))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert len(mods) >= 8
    loaded = set(json.loads(out.stdout))
    assert not loaded & {"pytest", "_pytest", "hypothesis", "tests", "benchmarks"}, loaded
