"""edge_worker/worker/uap_regexes.js is generated from the uap-core regexes the Python server's
ua-parser uses; a stale copy would classify devices differently from the Python server."""

from __future__ import annotations

import importlib.util

from tests.conftest import ROOT

SPEC = importlib.util.spec_from_file_location("uap_regexes", ROOT / "edge_worker" / "tools" / "uap_regexes.py")
assert SPEC is not None and SPEC.loader is not None
uap = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(uap)


def test_uap_regexes_module_matches_a_fresh_generation() -> None:
    assert uap.OUT.read_text() == uap.generate(), "stale: run python edge_worker/tools/uap_regexes.py"


def test_uap_regexes_module_keeps_a_spider_parser() -> None:
    assert ", true]," in uap.OUT.read_text()  # the device list ends at its last Spider parser
