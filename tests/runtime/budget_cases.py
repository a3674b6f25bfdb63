"""The runaway bundle lives in the shared harness, ``compiler/harness/adversarial.py``; its names are
handed on here for tests written against this module (new tests import the harness)."""

from __future__ import annotations

from compiler.harness.adversarial import RUNAWAY, RUNAWAY_CONDITION, RUNAWAY_MAX_LENGTH, runaway_bundle, runaway_payload

__all__ = ["RUNAWAY", "RUNAWAY_CONDITION", "RUNAWAY_MAX_LENGTH", "runaway_bundle", "runaway_payload"]
