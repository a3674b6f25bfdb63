"""``strata rebalance``: write the report's suggested weights into the rule set, in place.

Only the ``weight:`` scalars of the experiments' variants (and ``version:``, bumped by one when the
rule set has one) change, each at the line and column the compiler's YAML loader reports for it,
so comments, layout and line endings survive byte for byte. The edited text must compile before
it replaces the file (atomically). An experiment gets no new weights while any period's sample
ratio is flagged or its data is thin (``allocation.py`` says why); when no experiment can be
rebalanced the command refuses (exit 1) and the file is untouched.

The rule-set loader (``compiler.source``, PyYAML) and the compiler are imported when the command
runs: reporting is an offline tool, and this command needs the ``[compiler]`` extra as well.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from .allocation import allocation
from .counters import Data

#: A plain or quoted YAML scalar at the start of a string (the token a position points at).
_SCALAR = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\']|\'\')*\'|[^\s,\]}#]+')


#: Line breaks as YAML (PyYAML's reader) counts them, for turning its (line, column) into an offset.
_BREAK = re.compile("\r\n|[\r\n\x85\u2028\u2029]")


class RebalanceError(ValueError):
    """Nothing to write, and why."""


@dataclass
class Change:
    experiment: str
    old: dict[str, float]  # variant -> weight (percent) in the rule set
    new: dict[str, int]
    p_best: dict[str, float]


@dataclass
class Rebalanced:
    """The rule set as ``strata rebalance`` rewrites it, and what changed."""

    text: str  # the rewritten rule set
    changes: list[Change] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)  # experiments whose suggestion equals their weights
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (experiment, reason)
    version: tuple[int, int] | None = None  # (old, new)


def read_text(path: str) -> str:
    """The rule set as written (line endings kept)."""
    try:
        with open(path, encoding="utf-8", newline="") as f:
            return f.read()
    except OSError as e:
        raise RebalanceError(f"{path}: {e.strerror}") from None
    except UnicodeDecodeError:
        raise RebalanceError(f"{path}: not UTF-8 text") from None


def rebalance(path: str, text: str, data: Data, goal: str, *, min_share: float = 0.05, seed: int = 0) -> Rebalanced:
    """The rewritten rule set and what changed. Raises ``compiler.errors.CompileError`` when the
    rule set does not load."""
    from compiler.source import load_text

    doc, loc = load_text(text, path)
    out = Rebalanced(text)
    edits: list[tuple[tuple[int, int], str]] = []  # ((line0, col0), new scalar)
    exps = doc.get("experiments") if isinstance(doc, dict) else None
    for i, e in enumerate(exps if isinstance(exps, list) else []):
        eid = e.get("id") if isinstance(e, dict) else None
        if not isinstance(eid, str):
            continue
        if eid not in data.experiments:
            out.skipped.append((eid, "no counters for this experiment in the stats"))
            continue
        a = allocation(data, eid, goal, min_share=min_share, seed=seed)
        if a.suggestion is None:
            out.skipped.append((eid, a.reason))
            continue
        variants = e.get("variants") or []
        ids = [v.get("id") for v in variants]
        if sorted(map(str, ids)) != sorted(a.variants):
            out.skipped.append((eid, f"the rule set's variants ({', '.join(map(str, ids))}) differ from the ones the stats count "
                                     f"({', '.join(a.variants)}): publish the rule set first and gather new data"))
            continue
        new = dict(zip(a.variants, a.suggestion.weights))
        old = {str(v["id"]): float(v["weight"]) for v in variants}
        if all(old[v] == new[v] for v in new):
            out.unchanged.append(eid)
            continue
        for j, v in enumerate(variants):
            pos = loc.values.get(("experiments", i, "variants", j, "weight"))
            if pos is None:
                raise RebalanceError(f"{path}: experiment {eid!r} variant {v['id']!r} has no weight: to write")
            edits.append((pos, str(new[str(v["id"])])))
        out.changes.append(Change(eid, old, new, dict(zip(a.variants, a.suggestion.p_best))))
    if out.changes and isinstance(doc, dict) and type(doc.get("version")) is int:
        pos = loc.values.get(("version",))
        if pos is not None:
            out.version = (doc["version"], doc["version"] + 1)
            edits.append((pos, str(doc["version"] + 1)))
    out.text = apply_edits(text, edits)
    return out


def apply_edits(text: str, edits: list[tuple[tuple[int, int], str]]) -> str:
    """Replace the scalar starting at each (line0, col0) of ``text`` by its new text; nothing else changes."""
    starts = [0] + [m.end() for m in _BREAK.finditer(text)]
    out = text
    for (line, col), new in sorted(edits, reverse=True):  # from the end: earlier offsets stay valid
        at = starts[line] + col
        m = _SCALAR.match(out, at)
        if m is None:
            raise RebalanceError(f"line {line + 1}, column {col + 1}: no scalar to replace")
        out = out[:at] + new + out[m.end():]
    return out


def write(path: str, text: str) -> None:
    """Replace the file atomically, keeping its permissions."""
    p = Path(path)
    tmp = p.with_name(f".{p.name}.rebalance.tmp")
    with open(tmp, "w", encoding="utf-8", newline="") as f:
        f.write(text)
    try:
        os.chmod(tmp, p.stat().st_mode & 0o7777)
    except OSError:
        pass
    os.replace(tmp, p)


def check_compiles(path: str, text: str) -> None:
    """Raise ``CompileError`` unless ``text`` (the rule set at ``path``) compiles."""
    from compiler.pipeline import run

    run(path, None, text=text)


def describe(p: Rebalanced) -> list[str]:
    """Human-readable lines: old -> new per variant, and what was left alone."""
    lines = []
    for c in p.changes:
        lines.append(f"experiment {c.experiment}:")
        for v, w in c.new.items():
            lines.append(f"  {v:24} {c.old[v]:g} -> {w}   (P(best) {c.p_best[v] * 100:.1f}%)")
    for eid in p.unchanged:
        lines.append(f"experiment {eid}: weights already as suggested")
    if p.version is not None:
        lines.append(f"version: {p.version[0]} -> {p.version[1]}")
    return lines


def skipped_lines(p: Rebalanced) -> list[str]:
    return [f"experiment {eid}: not rebalanced: {why}" for eid, why in p.skipped]
