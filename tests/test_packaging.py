"""The installed package works as the checkout does: ``pip install strata-edge`` (docs/cli.md) gets a
wheel, not this tree, so every file a module reads beside itself (the contract tables, the rule-set
schema, ``/v1/client.js``) must be in the wheel. Built with pip as a user's install would build it,
then imported from the unpacked wheel alone, with the checkout out of the path."""

from __future__ import annotations

import re
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from compiler.harness.fixtures import ROOT

PACKAGES = ("compiler", "runtime", "edge_server")
#: a module reading a file that lies beside it: Path(__file__).with_name("x") / .parent / "x"
BESIDE = re.compile(r"""Path\(__file__\)(?:\.resolve\(\))?(?:\.with_name\(|\.parent\s*/\s*)["']([^"']+)["']""")


def _read_beside() -> set[str]:
    found = set()
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            if "harness" in path.parts:
                continue  # the test harness reads the checkout by design (fixtures, rule sets)
            for name in BESIDE.findall(path.read_text(encoding="utf-8")):
                found.add(str(path.parent.relative_to(ROOT) / name))
    return found


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", str(ROOT), "-w", str(out)],
                           capture_output=True, text=True, timeout=300, cwd=out)
    assert build.returncode == 0, build.stderr[-2000:]
    (built,) = out.glob("strata_edge-*.whl")
    return built


def test_the_scan_finds_the_files_modules_read_beside_themselves() -> None:
    assert {"runtime/format.json", "runtime/stdlib.json", "edge_server/edge_contract.json",
            "edge_server/client.js", "compiler/schema.json"} <= _read_beside()


def test_the_wheel_carries_every_file_a_module_reads_beside_itself(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        missing = sorted(_read_beside() - names)
        assert not missing, f"not in the wheel (add them to [tool.setuptools.package-data]): {missing}"
        # the schema is a link in the checkout (rulesets/schema.json is where editors find it): the
        # wheel must carry the schema itself, not a dangling link
        assert z.read("compiler/schema.json") == (ROOT / "rulesets" / "schema.json").read_bytes()


def test_the_unpacked_wheel_compiles_and_serves_without_the_checkout(wheel: Path, tmp_path: Path) -> None:
    with zipfile.ZipFile(wheel) as z:
        z.extractall(tmp_path)
    code = ("import compiler.schema, edge_server.pages, runtime.format, sys; "
            "assert all(m.__file__.startswith(sys.argv[1]) for m in (compiler.schema, edge_server.pages, runtime.format)); "
            "assert compiler.schema.schema()['$schema']; assert edge_server.pages.CLIENT_JS; print('ok')")
    # -S: no site, so the checkout's editable-install hook is not loaded; the dependencies come from
    # this interpreter's site-packages, the project's own modules only from the unpacked wheel
    env = {"PYTHONPATH": f"{tmp_path}:{sysconfig.get_paths()['purelib']}:{sysconfig.get_paths()['platlib']}"}
    run = subprocess.run([sys.executable, "-S", "-c", code, str(tmp_path)], capture_output=True, text=True,
                         timeout=120, cwd=tmp_path, env=env)
    assert run.returncode == 0 and run.stdout.strip() == "ok", run.stderr[-2000:]
