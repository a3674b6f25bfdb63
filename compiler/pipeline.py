"""The compiler as a named list of stages over one context (like OPA's ``c.stages``).

Order and why (each stage lives in the module of its name, but for check: ``conditions.py``,
with the checker in ``check.py``; and sign: ``encode.py``):
  parse     source.py: YAML -> data + positions; nothing else can run on broken YAML.
  validate  schema.py: JSON Schema; later stages may assume the document's shape.
  resolve   resolve.py: declarations, references, unique ids; conditions need the declared names.
  check     conditions.py: CEL parse + type check of every condition.
  order     order.py: segment cycles (errors), dependency order, consent propagation; needs checked refs.
  lower     lower.py: IR and per-slot precedence order; needs segment order for indexes.
  cost      cost.py: errors for conditions over limits.cost; needs the IR (a rule is costed with its segment).
  decision_state  decision_state.py: errors for one decision's cookie state over MAX_DECISION_STATE.
  analyse   analyse.py: warnings over the IR (unreachable rules, unused segments).
  encode    encode.py: payload -> msgpack -> xz (or gzip).
  sign      encode.py: Ed25519 envelope (skipped when no key is given, e.g. `strata test`).
A stage that reports errors stops the pipeline; all errors of that stage are reported together.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from . import __version__, analyse, conditions, cost, decision_state, encode, lower, order, schema, source
from .errors import MAX_ERRORS, CompileError, Diagnostic
from .resolve import Builder
from .ruleset import RuleSet
from .source import Locator


@dataclass
class Options:
    key: Ed25519PrivateKey | None = None
    strict: bool = False
    created: int | None = None  # default: SOURCE_DATE_EPOCH, else now
    version: int | None = None  # default: the rule set's, else created
    stop_after: str | None = None
    codec: str = "xz"  # payload compression: xz (smallest) or gzip (CDN workers); runtime/format.CODECS


@dataclass
class Context:
    path: str
    options: Options
    text: str | None = None
    doc: Any = None
    loc: Locator | None = None
    ruleset: RuleSet | None = None
    payload: dict[str, Any] | None = None
    payload_bytes: bytes | None = None
    bundle: bytes | None = None
    warnings: list[Diagnostic] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)


def _parse(ctx: Context) -> list[Diagnostic]:
    if ctx.text is not None:
        ctx.doc, ctx.loc = source.load_text(ctx.text, ctx.path)
    else:
        ctx.doc, ctx.loc = source.load(ctx.path)
    return []


def _validate(ctx: Context) -> list[Diagnostic]:
    assert ctx.loc is not None
    return schema.validate(ctx.doc, ctx.loc)


def _resolve(ctx: Context) -> list[Diagnostic]:
    assert ctx.loc is not None
    b = Builder(ctx.doc, ctx.loc)
    ctx.ruleset = b.build()
    return b.diags


def _check(ctx: Context) -> list[Diagnostic]:
    assert ctx.ruleset is not None and ctx.loc is not None
    return conditions.check_all(ctx.ruleset, ctx.loc)


def _order(ctx: Context) -> list[Diagnostic]:
    assert ctx.ruleset is not None and ctx.loc is not None
    return order.order_segments(ctx.ruleset, ctx.loc)


def _lower(ctx: Context) -> list[Diagnostic]:
    assert ctx.ruleset is not None and ctx.loc is not None
    return lower.lower_rules(ctx.ruleset, ctx.loc)


def _cost(ctx: Context) -> list[Diagnostic]:
    assert ctx.ruleset is not None and ctx.loc is not None
    return cost.check(ctx.ruleset, ctx.loc)


def _decision_state(ctx: Context) -> list[Diagnostic]:
    assert ctx.ruleset is not None and ctx.loc is not None
    return decision_state.check(ctx.ruleset, ctx.loc)


def _analyse(ctx: Context) -> list[Diagnostic]:
    assert ctx.ruleset is not None and ctx.loc is not None
    found = analyse.warnings(ctx.ruleset, ctx.loc)
    if ctx.options.strict:
        return [Diagnostic(d.pos, d.code, d.message, d.hint, "error", d.source_line) for d in found]
    ctx.warnings.extend(found)
    return []


def _times(opts: Options) -> int:
    if opts.created is not None:
        return opts.created
    sde = os.environ.get("SOURCE_DATE_EPOCH")
    if sde and sde.strip().isdigit():
        return int(sde)
    return int(time.time())


def _encode(ctx: Context) -> list[Diagnostic]:
    assert ctx.ruleset is not None
    created = _times(ctx.options)
    version = ctx.options.version or ctx.ruleset.version or created
    ctx.payload = encode.build_payload(ctx.ruleset, version=version, created=created, compiler=f"strata-edge {__version__}")
    ctx.payload_bytes = encode.encode_payload(ctx.payload, ctx.options.codec)
    return []


def _sign(ctx: Context) -> list[Diagnostic]:
    if ctx.options.key is not None:
        assert ctx.payload_bytes is not None
        ctx.bundle = encode.sign(ctx.payload_bytes, ctx.options.key, ctx.options.codec)
    return []


STAGES: list[tuple[str, Callable[[Context], list[Diagnostic]]]] = [
    ("parse", _parse),
    ("validate", _validate),
    ("resolve", _resolve),
    ("check", _check),
    ("order", _order),
    ("lower", _lower),
    ("cost", _cost),
    ("decision_state", _decision_state),
    ("analyse", _analyse),
    ("encode", _encode),
    ("sign", _sign),
]


def run(path: str | Path, options: Options | None = None, *, text: str | None = None) -> Context:
    """Run the stages; raise ``CompileError`` with every error of the first failing stage."""
    ctx = Context(str(path), options or Options(), text=text)
    for name, stage in STAGES:
        t0 = time.perf_counter()
        diags = stage(ctx)
        ctx.timings[name] = time.perf_counter() - t0
        errors = [d for d in diags if d.severity == "error"]
        ctx.warnings.extend(d for d in diags if d.severity == "warning")
        if errors:
            raise CompileError(errors[:MAX_ERRORS])
        if ctx.options.stop_after == name:
            break
    return ctx


def compile_file(path: str | Path, key: Ed25519PrivateKey, **kw: Any) -> Context:
    return run(path, Options(key=key, **kw))
