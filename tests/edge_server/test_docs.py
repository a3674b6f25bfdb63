"""docs/server.md stays true to the server: every flag, STRATA_* variable and error code in the
code is documented, and nothing documented is missing from the code."""

from __future__ import annotations

import re

from compiler.harness.fixtures import ROOT
from edge_server import contract
from edge_server.config import ENV
from tests.edge_server.test_config import serve_parser

DOC = (ROOT / "docs" / "server.md").read_text(encoding="utf-8")


def test_docs_list_every_flag_and_variable():
    flags = {o for a in serve_parser()._actions for o in a.option_strings if o.startswith("--") and o != "--help"}
    table = DOC.split("| flag | environment |", 1)[1].split("\n\n", 1)[0]
    assert flags and not {f for f in flags if f"`{f}" not in table}, "flags missing from docs/server.md"
    assert not {v for v in ENV if v not in DOC}, "variables missing from docs/server.md"
    documented = set(re.findall(r"STRATA_[A-Z_]+", table))
    assert documented <= set(ENV), f"documented but not read: {documented - set(ENV)}"


def test_docs_list_every_error_code_the_server_answers():
    src = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "edge_server").glob("*.py"))
    used = set(re.findall(r'(?:ApiError|error_response)\((\d{3}), "([a-z_]+)"', src))
    used |= {("404", "not_found"), ("405", "method_not_allowed")}  # Starlette's own, mapped in app.http_error
    used |= {(str(e["status"]), e["code"]) for k, e in contract.TABLE["errors"].items() if k != "doc"}  # edge_contract.json
    documented = set(re.findall(r"^\| (\d{3}) \| `([a-z_]+)` \|", DOC, re.M))
    assert len(used) >= 14 and used == documented
