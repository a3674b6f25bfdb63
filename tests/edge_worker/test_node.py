"""The JavaScript tests (node's built-in runner over edge_worker/test/) as part of the one pytest
command: this test fails with node's output when any of them fails."""

from __future__ import annotations

import subprocess

from edge_server.harness.workerd import EDGE_WORKER
from tests.edge_worker.workerd import require_node


def test_node_test_runner_passes_every_javascript_test() -> None:
    require_node()
    r = subprocess.run(["node", "--test"], cwd=EDGE_WORKER, capture_output=True, text=True, timeout=600)
    summary = [line for line in r.stdout.splitlines() if line.startswith(("# pass", "# fail"))]
    assert r.returncode == 0, f"node --test failed:\n{r.stdout[-6000:]}\n{r.stderr[-2000:]}"
    assert summary and summary[-1] == "# fail 0" and summary[0] != "# pass 0", summary
