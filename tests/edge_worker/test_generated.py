"""The worker's generated modules equal a fresh generation: edge_worker/worker/uap_regexes.js (the
uap-core regexes the Python server's ua-parser uses: a stale copy would classify devices
differently), edge_worker/worker/client_js.js (edge_server/client.js), and the template allow-list in
edge_worker/worker/sanitize.js (runtime/format.py)."""

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


def test_generated_sanitiser_allow_list_matches_runtime_format() -> None:
    import json
    import re

    from runtime.format import TEMPLATE_ATTRIBUTES, TEMPLATE_TAGS

    src = (ROOT / "edge_worker" / "worker" / "sanitize.js").read_text()
    block = src.split("// BEGIN TEMPLATE ALLOW-LIST\n")[1].split("// END TEMPLATE ALLOW-LIST")[0]
    tags = re.search(r"TEMPLATE_TAGS = new Set\((.*)\);", block)
    attrs = re.search(r"TEMPLATE_ATTRIBUTES = (.*);", block)
    assert tags and attrs, "sanitize.js: the allow-list block is missing"
    assert set(json.loads(tags.group(1))) == TEMPLATE_TAGS, "sanitize.js TEMPLATE_TAGS differ from runtime/format.py"
    assert {k: set(v) for k, v in json.loads(attrs.group(1)).items()} == TEMPLATE_ATTRIBUTES, "sanitize.js TEMPLATE_ATTRIBUTES differ"
