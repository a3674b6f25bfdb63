"""runtime/ embeds anywhere: importing it pulls in neither cel-python, jsonschema, PyYAML nor
Starlette (checked in a fresh interpreter) — its third-party imports are msgpack, cryptography and
re2 (google-re2, for CEL's matches()) — and the base install (``pip install strata-edge``, no
extras) verifies and decides while the other commands name the extra they need."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_imports_runtime_needs_only_msgpack_cryptography_and_re2():
    code = (
        "import sys, json, runtime, runtime.engine, runtime.decide, runtime.verify, runtime.codegen, runtime.flags;"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    top = set(json.loads(out.stdout))
    for forbidden in ("celpy", "lark", "jsonschema", "yaml", "starlette", "uvicorn", "compiler", "edge_server", "openfeature"):
        assert forbidden not in top, forbidden
    assert {"msgpack", "cryptography", "re2"} <= top



def test_imports_compiler_never_imports_the_server():
    """The compiler sits below the server: every compiler module loads without edge_server (the
    offline tools over fleet counters — report, rebalance, train — live in edge_server/reporting/
    and read rule sets through the compiler, never the other way round)."""
    mods = sorted(f"compiler.{p.stem}" for p in (ROOT / "compiler").glob("*.py") if p.stem != "__init__")
    code = f"import sys, json; [__import__(m) for m in {mods!r}]; print(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}})))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert len(mods) > 10
    assert "edge_server" not in json.loads(out.stdout)

@pytest.mark.slow
def test_imports_base_install_is_the_runtime_alone(tmp_path: Path) -> None:
    """A venv with only the base install: the runtime's commands work on a signed bundle, and the
    compiler's and server's commands exit 1 naming their extra instead of a traceback."""
    from compiler.keys import keygen, load_private_key
    from compiler.pipeline import Options, run

    priv_path, pub_path, _ = keygen(tmp_path / "k")
    priv, pub = str(priv_path), str(pub_path)
    bundle = tmp_path / "t.bundle"
    bundle.write_bytes(run(str(ROOT / "rulesets" / "trailblazer.yaml"), Options(key=load_private_key(priv_path))).bundle or b"")
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    py, strata_bin = env_dir / "bin" / "python", str(env_dir / "bin" / "strata")
    environ = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    subprocess.run([py, "-m", "pip", "install", "-q", str(ROOT)], check=True, capture_output=True, env=environ, cwd=tmp_path)
    have = subprocess.run([py, "-c", "import importlib.util as u; print([m for m in ('celpy', 'yaml', 'jsonschema', 'starlette') if u.find_spec(m)])"],
                          capture_output=True, text=True, env=environ, cwd=tmp_path)
    assert have.stdout.strip() == "[]", have.stdout

    def strata(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([strata_bin, *args], capture_output=True, text=True, env=environ, cwd=tmp_path)

    ok = strata("verify", str(bundle), "--pub", pub)
    assert ok.returncode == 0 and "OK trailblazer" in ok.stdout, ok.stderr
    decided = subprocess.run([strata_bin, "eval", str(bundle), "--pub", pub, "--signals", "-", "--json"], input='{"device.type": "mobile"}',
                             capture_output=True, text=True, env=environ, cwd=tmp_path)
    assert decided.returncode == 0 and set(json.loads(decided.stdout)["slots"]) >= {"hero"}, decided.stderr
    for args, extra in ((["compile", "x.yaml", "-k", priv, "-o", "x.bundle"], "compiler"), (["test", "x.yaml"], "compiler"),
                        (["serve", "--bundle", str(bundle), "--pub", pub], "server")):
        r = strata(*args)
        assert r.returncode == 1 and f"pip install 'strata-edge[{extra}]'" in r.stderr and "Traceback" not in r.stderr, (args, r.stderr)
    listed = strata("--help").stdout
    assert all(c in listed for c in ("verify", "eval", "compile", "serve", "report")), listed
