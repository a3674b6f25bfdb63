"""``strata test``: run the test cases a rule set carries (signals in, expected decisions out),
through the real lowering and the real runtime, like ``opa test``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import msgpack

from runtime.decide import Prepared
from runtime.validate import validate_payload
from runtime.verify import VerifiedBundle

from .pipeline import Context

_FIELDS = ("rule", "variant", "experiment", "reason", "layer", "segment")


@dataclass
class CaseResult:
    name: str
    line: int
    failures: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.failures


def prepared_from(ctx: Context) -> Prepared:
    """A Prepared bundle straight from a compile context (no signature: tests run offline)."""
    assert ctx.payload is not None
    payload = msgpack.unpackb(msgpack.packb(ctx.payload, use_bin_type=True), raw=False)
    validate_payload(payload)
    return Prepared(VerifiedBundle(key_id="unsigned", payload=payload, size=len(ctx.payload_bytes or b"")))


def _subset(expected: Any, actual: Any) -> bool:
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(k in actual and _subset(v, actual[k]) for k, v in expected.items())
    return bool(expected == actual)


def run_tests(ctx: Context) -> list[CaseResult]:
    assert ctx.ruleset is not None and ctx.loc is not None
    prepared = prepared_from(ctx)
    results = []
    for i, case in enumerate(ctx.ruleset.tests):
        res = CaseResult(case["name"], ctx.loc.pos(("tests", i)).line)
        signals = case.get("signals", {})
        _, dropped = prepared.prepare_signals(signals, True)
        for name in dropped:
            if name not in prepared.checkers:
                res.failures.append(f"signal {name} is not declared")
            else:
                res.failures.append(f"signal {name}: value {signals[name]!r} is not a {prepared.signal_types[name]}")
        outcome = prepared.decide(
            signals,
            list(case["expect"]),
            session_id=case.get("session_id", "strata-test-session"),
            caps=case.get("caps"),
            consent=case.get("consent", True),
            now=case.get("now", prepared.created),
        )
        for slot, exp in case["expect"].items():
            d = outcome.decisions.get(slot)
            if d is None:
                res.failures.append(f"slot {slot} does not exist (slots: {', '.join(prepared.slot_ids)})")
                continue
            for f in _FIELDS:
                if f in exp and getattr(d, f) != exp[f]:
                    res.failures.append(f"{slot}.{f}: expected {exp[f]!r}, got {getattr(d, f)!r} (reason {d.reason})")
            if "content" in exp and not _subset(exp["content"], d.content):
                res.failures.append(f"{slot}.content: expected to contain {exp['content']!r}, got {d.content!r}")
        results.append(res)
    return results
