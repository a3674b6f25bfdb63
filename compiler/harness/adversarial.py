"""Generated adversarial conditions and bundles, for the evaluation-budget tests (runtime, live
server) and benchmarks/adversarial_bench.py.

:class:`CostlyConditions` is one grammar of costly CEL conditions with two drivers: a seeded
``random.Random`` (the benchmark's reproducible search) or Hypothesis draws (the property test,
which then shrinks a failing condition); :func:`costly_ruleset` declares the signals they read.

``runaway_bundle`` is a bundle the compiler would refuse: it compiles a rule set whose string
signal is declared 8 characters long (so its nested comprehension is cheap), then raises the
signal's bound in the signed payload, as a bundle from another compiler, or an estimate that trusted
a bound the server does not enforce, would. Only the runtime budget stands between it and a
decision that runs 16,001 x 16,001 iterations.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from .. import encode
from ..pipeline import Options, run
from .fixtures import CREATED

#: Nested comprehensions over split() of the client signal q (a string of commas at run time).
RUNAWAY_CONDITION = 'q.split(",").exists(a, q.split(",").exists(b, a + b == "zz"))'

RUNAWAY = f"""\
strata: 1
name: runaway
signals:
  q: {{type: string, category: contextual, max_length: 8}}
slots:
  - id: runaway
    default: {{v: default}}
    rules:
      - {{id: nested-split, when: '{RUNAWAY_CONDITION}', content: {{v: runaway}}}}
  - id: absorbed
    default: {{v: default}}
    rules:
      - {{id: or-true, when: '{RUNAWAY_CONDITION} || q != ""', content: {{v: absorbed}}}}
  - id: plain
    default: {{v: default}}
    rules:
      - {{id: plain, when: 'q != ""', content: {{v: plain}}}}
"""

#: The bound written into the payload: q may then be 16,000 characters (a 16 KiB body holds it).
RUNAWAY_MAX_LENGTH = 16_000


def runaway_payload(created: int = CREATED) -> dict[str, Any]:
    ctx = run("runaway.yaml", Options(created=created), text=RUNAWAY)
    assert ctx.payload is not None
    payload = ctx.payload
    for s in payload["signals"]:
        if s["name"] == "q":
            s["max_length"] = RUNAWAY_MAX_LENGTH
    return payload


def runaway_bundle(key: Ed25519PrivateKey, created: int = CREATED) -> bytes:
    return encode.sign(encode.encode_payload(runaway_payload(created)), key)


# ------------------------------------------------------------------ costly conditions the compiler may accept
#: The string literals the conditions split, replace and join on (adversarial signals are made of them).
LITERALS = ('","', '"a"', '" "', '""', '"a,"')


class CostlyConditions:
    """Random costly conditions: string growth (``+``, replace(), lowerAscii(), join()), lists
    (split(), map(), filter(), ``+``) and the comprehensions over them, nested to a depth. Every
    choice goes through ``choose`` (``random.Random(seed).choice``, or a Hypothesis draw).
    ``strings``, ``lists``: the signals read; ``full``: also ``size(list) > 3`` and ``&&`` (the
    benchmark keeps the grammar without them, which its published figures were searched with)."""

    def __init__(self, choose: Callable[[Sequence[str]], str], strings: Sequence[str] = ("q",), lists: Sequence[str] = ("xs",),
                 full: bool = True):
        self.choose, self.strings, self.lists, self.full = choose, tuple(strings), tuple(lists), full

    def _signal(self, names: tuple[str, ...]) -> str:
        return names[0] if len(names) == 1 else self.choose(names)

    def string(self, depth: int, scope: tuple[str, ...]) -> str:
        """A string expression; ``scope``: the comprehension variables bound here."""
        k = self.choose(["signal", "literal"] + (["var"] if scope else []) + (["concat", "replace", "lower", "join"] if depth > 0 else []))
        if k == "signal":
            return self._signal(self.strings)
        if k == "literal":
            return self.choose(LITERALS)
        if k == "var":
            return self.choose(scope)
        if k == "concat":
            return f"({self.string(depth - 1, scope)} + {self.string(depth - 1, scope)})"
        if k == "replace":
            return f"{self.string(depth - 1, scope)}.replace({self.choose(LITERALS)}, {self.string(depth - 1, scope)})"
        if k == "lower":
            return f"{self.string(depth - 1, scope)}.lowerAscii()"
        return f"{self.list(depth - 1, scope)}.join({self.choose(LITERALS)})"

    def list(self, depth: int, scope: tuple[str, ...]) -> str:
        """A list(string) expression."""
        k = self.choose(["signal", "split"] + (["map", "filter", "concat"] if depth > 0 else []))
        if k == "signal":
            return self._signal(self.lists)
        if k == "split":
            return f"{self.string(max(depth - 1, 0), scope)}.split({self.choose(LITERALS)})"
        v = f"v{len(scope)}"
        if k == "map":
            return f"{self.list(depth - 1, scope)}.map({v}, {self.string(depth - 1, (*scope, v))})"
        if k == "filter":
            return f"{self.list(depth - 1, scope)}.filter({v}, {self.bool(depth - 1, (*scope, v))})"
        return f"({self.list(depth - 1, scope)} + {self.list(depth - 1, scope)})"

    def bool(self, depth: int, scope: tuple[str, ...]) -> str:
        """A condition."""
        full = self.full
        k = self.choose(["eq", "contains", "in"] + (["size"] if full else [])
                        + (["exists", "all", "exists_one"] + (["and"] if full else []) + ["or"] if depth > 0 else []))
        if k == "eq":
            return f"{self.string(depth, scope)} == {self.string(depth, scope)}"
        if k == "contains":
            return f"{self.string(depth, scope)}.contains({self.string(depth, scope)})"
        if k == "in":
            return f"{self.string(depth, scope)} in {self.list(depth, scope)}"
        if k == "size":
            return f"size({self.list(depth, scope)}) > 3"
        if k in ("and", "or"):
            return f"({self.bool(depth - 1, scope)} {'&&' if k == 'and' else '||'} {self.bool(depth - 1, scope)})"
        v = f"v{len(scope)}"
        return f"{self.list(depth - 1, scope)}.{k}({v}, {self.bool(depth - 1, (*scope, v))})"


def costly_ruleset(condition: str, max_length: int, max_items: int) -> str:
    """One slot with one rule on ``condition``, over the client signals ``q: string`` and
    ``xs: list(string)`` at these bounds, and ``nosuch`` (a map no request sends: reading it is an
    error, which sends a decision from the generated code to the exact evaluator)."""
    return f"""\
strata: 1
name: adversarial
signals:
  q: {{type: string, category: contextual, max_length: {max_length}}}
  xs: {{type: 'list(string)', category: contextual, max_items: {max_items}, max_length: {max_length}}}
  nosuch: {{type: 'map(string, int)', category: contextual}}
slots:
  - id: s
    default: {{v: default}}
    rules:
      - id: r
        when: '{condition}'
        content: {{v: matched}}
"""
