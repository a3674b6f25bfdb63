"""The bundle format: constants shared by the compiler (which writes bundles) and the runtime.

Everything here is part of the contract documented in ``docs/bundle-format.md``, and every value
comes from the one table ``format.json`` beside this module, which the JavaScript runtime reads too
(``edge_worker/runtime/format.js``); ``tests/runtime/test_format.py`` fails when either disagrees
with it. The runtime owns this module so that the dependency arrow points one way: the compiler
imports the runtime's format definitions, never the reverse.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, NamedTuple

PATH = Path(__file__).with_name("format.json")
#: The table as JSON gives it (read-only by convention).
TABLE: dict[str, Any] = json.loads(PATH.read_text(encoding="utf-8"))
_LIMITS: dict[str, Any] = {name: entry["value"] for name, entry in TABLE["limits"].items()}

#: Envelope format number of an xz bundle (four envelope fields). Bump only with a documented migration.
FORMAT_VERSION: int = TABLE["formats"]["FORMAT_VERSION"]
#: Envelope format with a ``codec`` field that the signature covers (docs/bundle-format.md). The
#: compiler writes it for every codec but xz, so xz bundles stay byte-identical to format 1 and an
#: older runtime refuses a gzip bundle with "unsupported format" instead of a confusing inflate error.
FORMAT_CODEC: int = TABLE["formats"]["FORMAT_CODEC"]
#: Formats this runtime reads.
FORMATS = (FORMAT_VERSION, FORMAT_CODEC)
#: Payload compressions: xz (the default, smallest) and gzip (what a CDN worker can inflate with
#: DecompressionStream; no xz there).
CODECS: tuple[str, ...] = tuple(TABLE["codecs"])

#: Domain separation for signatures: a signature over a Strata bundle can never be replayed as a
#: signature over anything else signed by the same key (and vice versa).
SIGNATURE_DOMAIN: bytes = TABLE["signature_domains"][str(FORMAT_VERSION)].encode("ascii")
#: Domain of format 2; the signed message is this, the codec name, a NUL, then the payload.
SIGNATURE_DOMAIN_V2: bytes = TABLE["signature_domains"][str(FORMAT_CODEC)].encode("ascii")


def signed_message(fmt: int, codec: str, payload: bytes) -> bytes:
    """The bytes an envelope's signature covers: format 1 signs the payload only (its codec is
    always xz), format 2 also signs the codec name, so it cannot be swapped after signing."""
    if fmt == FORMAT_VERSION:
        return SIGNATURE_DOMAIN + payload
    return SIGNATURE_DOMAIN_V2 + codec.encode("ascii") + b"\x00" + payload


# Limits checked before any expensive work: they bound memory for a hostile input. Each one's
# reason is its "doc" in format.json.
MAX_ENVELOPE_BYTES: int = _LIMITS["MAX_ENVELOPE_BYTES"]
MAX_PAYLOAD_BYTES: int = _LIMITS["MAX_PAYLOAD_BYTES"]
MAX_DECODER_MEMORY: int = _LIMITS["MAX_DECODER_MEMORY"]
MAX_NESTING: int = _LIMITS["MAX_NESTING"]
#: Bounds checked on the inflated payload *before* it is unpacked (``runtime/bounds.py``).
MAX_PAYLOAD_OBJECTS: int = _LIMITS["MAX_PAYLOAD_OBJECTS"]
MAX_PAYLOAD_DEPTH: int = _LIMITS["MAX_PAYLOAD_DEPTH"]
MAX_PAYLOAD_STRING: int = _LIMITS["MAX_PAYLOAD_STRING"]
#: IR bounds: nodes in a bundle, items of a LIST/MAP node, characters of a string or bytes literal.
MAX_IR_NODES: int = _LIMITS["MAX_IR_NODES"]
MAX_LITERAL_ITEMS: int = _LIMITS["MAX_LITERAL_ITEMS"]
MAX_LITERAL_BYTES: int = _LIMITS["MAX_LITERAL_BYTES"]
#: Characters of a CALL node's overload string.
MAX_OVERLOAD_LENGTH: int = _LIMITS["MAX_OVERLOAD_LENGTH"]
#: Largest ``max_items``/``max_length`` a signal may declare.
MAX_SIGNAL_BOUND: int = _LIMITS["MAX_SIGNAL_BOUND"]
#: Limits of the payload's ``models`` (docs/bundle-format.md): they bound the work of one score
#: (at most 64 features, each one dict lookup, bisect or list scan) and of all scores of a decision,
#: which is why the evaluation budget does not charge for scores.
MAX_MODELS: int = _LIMITS["MAX_MODELS"]
MAX_FEATURES: int = _LIMITS["MAX_FEATURES"]
MAX_LEVELS: int = _LIMITS["MAX_LEVELS"]
MAX_FEATURE_ARGS: int = _LIMITS["MAX_FEATURE_ARGS"]
#: Largest |bias| or |weight|.
MAX_COEFFICIENT: float = _LIMITS["MAX_COEFFICIENT"]
#: Knots of one coefficient set's calibration, and features one cross combines (docs/models.md).
MAX_CALIBRATION_KNOTS: int = _LIMITS["MAX_CALIBRATION_KNOTS"]
MAX_CROSS_PARTS: int = _LIMITS["MAX_CROSS_PARTS"]

# Constants every runtime applies (no bundle carries them); each one's reason is its "doc" in format.json.
_RUNTIME: dict[str, Any] = TABLE["runtime"]
#: Work units one condition may use in one decision (runtime/budget.py).
EVAL_BUDGET: int = _RUNTIME["EVAL_BUDGET"]["value"]
#: Characters of a string result per work unit.
ALLOC_CHUNK: int = _RUNTIME["ALLOC_CHUNK"]["value"]
#: Seconds of tolerance between the signer's clock and this node's.
DEFAULT_CLOCK_SKEW: int = _RUNTIME["DEFAULT_CLOCK_SKEW"]["value"]
#: Bounds of a signal that declares none.
DEFAULT_MAX_ITEMS: int = _RUNTIME["DEFAULT_MAX_ITEMS"]["value"]
DEFAULT_MAX_LENGTH: int = _RUNTIME["DEFAULT_MAX_LENGTH"]["value"]
#: The edges' default request body limit; the compiler's cost estimate relies on it for client signals.
CLIENT_BODY_BYTES: int = _RUNTIME["CLIENT_BODY_BYTES"]["value"]
#: Cost classes of the CEL catalogue whose result can be larger than their arguments.
GROWTH_COSTS: frozenset[str] = frozenset(_RUNTIME["growth_costs"]["values"])

#: What one visitor's cookie must hold of a rule set (edge_server/session.py, the worker's session
#: cookie): the compiler refuses a rule set beyond these, and both cookie readers derive their bounds
#: from them, so every state a decision writes is read back (docs/security.md, "Limits").
#: Characters of an id (slot, rule, segment, experiment, variant, goal, model, feature): the
#: ``maxLength`` of ``$defs/id`` and ``$defs/ident`` in rulesets/schema.json (a test keeps them equal).
MAX_ID_LENGTH: int = _LIMITS["MAX_ID_LENGTH"]
#: Variants of one experiment. Each exposure in the cookie carries its allocation period, the
#: variants' weights in basis points joined by ``/``; more variants would make it unreadable.
MAX_VARIANTS: int = _LIMITS["MAX_VARIANTS"]


def period_length(variants: int) -> int:
    """The longest allocation period of an experiment with this many variants: each weight at most
    ``10000`` (five digits), one ``/`` between two."""
    return 6 * variants - 1


#: The longest period a cookie reader accepts (119 characters).
MAX_PERIOD = period_length(MAX_VARIANTS)
#: msgpack bytes of the cookie state one decision can write, at its largest (compiler/decision_state.py).
MAX_DECISION_STATE: int = _LIMITS["MAX_DECISION_STATE"]

#: Segment layers, most general first. Candidates are ordered most specific first.
LAYERS: tuple[str, ...] = tuple(TABLE["layers"]["values"])

#: Signal categories. Which of them need consent is declared per rule set (default: behavioral).
CATEGORIES: tuple[str, ...] = tuple(TABLE["categories"]["values"])

#: Number of buckets for experiment and holdout assignment (see docs/bucketing.md); traffic ranges,
#: variant weights and the holdout share are out of this many.
BUCKETS: int = TABLE["BUCKETS"]["value"]

class ScoreBuckets(NamedTuple):
    """The counting buckets of a model's log-odds (docs/models.md, "Counting"): bucket ``i``
    covers ``[low + i/per_unit, low + (i+1)/per_unit)`` (clamped to ``0..buckets-1``); a cookie stores
    ``first + i``; an index below ``legacy`` is an old 0.05-wide bucket of the score."""

    low: float
    per_unit: int
    buckets: int
    first: int
    legacy: int


SCORE_BUCKETS = ScoreBuckets(*(TABLE["SCORE_BUCKETS"][k] for k in ScoreBuckets._fields))


class UpliftBuckets(NamedTuple):
    """The counting buckets of an uplift model's score (docs/models.md, "Thresholds of an uplift
    score"): bucket ``i`` covers ``[low + i/per_unit, low + (i+1)/per_unit)`` of the calibrated
    uplift (clamped to ``0..buckets-1``); a cookie's entry stores ``first + i``, 0 for none."""

    low: float
    per_unit: int
    buckets: int
    first: int


UPLIFT_BUCKETS = UpliftBuckets(*(TABLE["UPLIFT_BUCKETS"][k] for k in UpliftBuckets._fields))

_OPS: dict[str, int] = {op["name"]: op["code"] for op in TABLE["ops"]}


class Op:
    """IR opcodes: every IR node is a msgpack array whose first element is one of these.

    The table (operands and meaning) is ``ops`` in format.json and in docs/bundle-format.md.
    """

    LIT: int = _OPS["LIT"]
    ULIT: int = _OPS["ULIT"]
    SIG: int = _OPS["SIG"]
    SEG: int = _OPS["SEG"]
    VAR: int = _OPS["VAR"]
    SEL: int = _OPS["SEL"]
    HAS: int = _OPS["HAS"]
    SIGHAS: int = _OPS["SIGHAS"]
    AND: int = _OPS["AND"]
    OR: int = _OPS["OR"]
    NOT: int = _OPS["NOT"]
    COND: int = _OPS["COND"]
    CALL: int = _OPS["CALL"]
    LIST: int = _OPS["LIST"]
    MAP: int = _OPS["MAP"]
    COMP: int = _OPS["COMP"]
    TYPE: int = _OPS["TYPE"]
    COMP2: int = _OPS["COMP2"]
    SCORE: int = _OPS["SCORE"]


#: Comprehension kinds for COMP (one variable) and COMP2 (two variables).
COMPREHENSIONS: tuple[str, ...] = tuple(TABLE["comprehensions"])


def _arity(a: Any) -> int | tuple[int, ...] | None:
    return tuple(a) if isinstance(a, list) else a


#: Operand counts per opcode (None: variable, a tuple: one of); used to validate IR shape on load.
ARITY: dict[int, int | tuple[int, ...] | None] = {op["code"]: _arity(op["arity"]) for op in TABLE["ops"]}

#: Feature kinds of a model.
FEATURE_KINDS: tuple[str, ...] = tuple(TABLE["feature_kinds"])

#: The fields each map of the payload may have (docs/bundle-format.md), by map: ``payload``,
#: ``signal``, ``segment``...; IR validation refuses any other.
FIELDS: dict[str, frozenset[str]] = {k: frozenset(v) for k, v in TABLE["fields"].items() if k != "doc"}

#: What a content block's ``template`` may contain (docs/rulesets.md#templates): the allow-list of the
#: ammonia HTML sanitiser's defaults (no script, style, iframe, form, object; no event handler or
#: style attribute), plus ``class`` everywhere for the site's CSS. The compiler refuses a template
#: using anything else; the edge server sanitises every rendered template with the same list.
TEMPLATE_TAGS: frozenset[str] = frozenset(TABLE["template"]["tags"])
#: Attributes allowed on every tag ("*") and per tag.
TEMPLATE_ATTRIBUTES: dict[str, frozenset[str]] = {tag: frozenset(a) for tag, a in TABLE["template"]["attributes"].items()}
