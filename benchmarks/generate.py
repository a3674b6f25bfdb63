"""The generated rule sets moved to the shared harness, ``compiler/harness/generated.py``; these
names are handed on for benchmark scripts written against this module."""

from __future__ import annotations

from compiler.harness.generated import dump, ruleset, segment_condition

__all__ = ["dump", "ruleset", "segment_condition"]
