"""The one-to-one simulation's figures: each a measured value beside its target, printed as one
table and written to benchmarks/results/one_to_one_sim.json."""

from __future__ import annotations

import json
import platform
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results" / "one_to_one_sim.json"


@dataclass
class Figure:
    scenario: str
    name: str
    value: str  # as printed
    target: str
    met: bool | None  # None: shown, no target
    data: dict[str, Any] = field(default_factory=dict)  # the numbers behind it


def table(figures: list[Figure]) -> str:
    rows = [("scenario", "figure", "value", "target", "met")]
    rows += [(f.scenario, f.name, f.value, f.target, "-" if f.met is None else ("yes" if f.met else "NO")) for f in figures]
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def write(figures: list[Figure], command: str, extra: dict[str, Any], path: Path = RESULTS) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = {"command": command, "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "python": platform.python_version(),
           "figures": [asdict(f) for f in figures], **extra}
    path.write_text(json.dumps(doc, indent=1) + "\n")
    return path
