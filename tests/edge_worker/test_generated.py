"""The worker's generated modules equal a fresh generation: edge_worker/worker/uap_regexes.js (the
uap-core regexes the Python server's ua-parser uses: a stale copy would classify devices
differently), edge_worker/worker/client_js.js (edge_server/client.js) and
edge_worker/runtime/python_unicode.js (which code points this Python's repr escapes). The template allow-list is
no longer generated: both languages read it from runtime/format.json (tests/runtime/test_format.py)."""

from __future__ import annotations

import importlib.util
from types import ModuleType

from compiler.harness.fixtures import ROOT


def _tool(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, ROOT / "edge_worker" / "tools" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_generated_uap_regexes_match_a_fresh_generation() -> None:
    uap = _tool("uap_regexes")
    assert uap.OUT.read_text() == uap.generate(), "stale: run python edge_worker/tools/uap_regexes.py"
    assert ", true]," in uap.OUT.read_text()  # the device list ends at its last Spider parser


def test_generated_client_js_matches_edge_server_client_js() -> None:
    client = _tool("client_js")
    assert client.OUT.read_text() == client.generate(), "stale: run python edge_worker/tools/client_js.py"



def test_generated_python_unicode_matches_this_pythons_unicode_version() -> None:
    uni = _tool("python_unicode")
    assert uni.OUT.read_text() == uni.generate(), "stale: run python edge_worker/tools/python_unicode.py with the server's Python"
