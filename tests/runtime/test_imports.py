"""runtime/ embeds anywhere: importing it pulls in neither cel-python, jsonschema, PyYAML nor
Starlette (checked in a fresh interpreter); its third-party imports are msgpack, cryptography and
re2 (google-re2, for CEL's matches())."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_imports_runtime_needs_only_msgpack_cryptography_and_re2():
    code = (
        "import sys, json, runtime, runtime.engine, runtime.prepare, runtime.verify, runtime.codegen;"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    top = set(json.loads(out.stdout))
    for forbidden in ("celpy", "lark", "jsonschema", "yaml", "starlette", "uvicorn", "compiler", "edge_server"):
        assert forbidden not in top, forbidden
    assert {"msgpack", "cryptography", "re2"} <= top
