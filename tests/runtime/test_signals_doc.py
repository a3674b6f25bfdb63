"""docs/signals.md lists every built-in signal with its type and category."""

from __future__ import annotations

from pathlib import Path

from runtime.signals import BUILTIN_SIGNALS

DOC = (Path(__file__).resolve().parents[2] / "docs" / "signals.md").read_text(encoding="utf-8")


def test_signals_doc_lists_every_builtin_signal():
    for s in BUILTIN_SIGNALS:
        assert f"| `{s.name}` | `{s.type}` | {s.category} | {s.source} |" in DOC, s.name
