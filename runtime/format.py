"""The bundle format: constants shared by the compiler (which writes bundles) and the runtime.

Everything here is part of the contract documented in ``docs/bundle-format.md``. The runtime
owns this module so that the dependency arrow points one way: the compiler imports the runtime's
format definitions, never the reverse.
"""

from __future__ import annotations

#: Envelope format number of an xz bundle (four envelope fields). Bump only with a documented migration.
FORMAT_VERSION = 1
#: Envelope format with a ``codec`` field that the signature covers (docs/bundle-format.md). The
#: compiler writes it for every codec but xz, so xz bundles stay byte-identical to format 1 and an
#: older runtime refuses a gzip bundle with "unsupported format" instead of a confusing inflate error.
FORMAT_CODEC = 2
#: Formats this runtime reads.
FORMATS = (FORMAT_VERSION, FORMAT_CODEC)
#: Payload compressions: xz (the default, smallest) and gzip (what a CDN worker can inflate with
#: DecompressionStream; no xz there).
CODECS = ("xz", "gzip")

#: Domain separation for signatures: a signature over a Strata bundle can never be replayed as a
#: signature over anything else signed by the same key (and vice versa).
SIGNATURE_DOMAIN = b"strata-bundle-v1\x00"
#: Domain of format 2; the signed message is this, the codec name, a NUL, then the payload.
SIGNATURE_DOMAIN_V2 = b"strata-bundle-v2\x00"


def signed_message(fmt: int, codec: str, payload: bytes) -> bytes:
    """The bytes an envelope's signature covers: format 1 signs the payload only (its codec is
    always xz), format 2 also signs the codec name, so it cannot be swapped after signing."""
    if fmt == FORMAT_VERSION:
        return SIGNATURE_DOMAIN + payload
    return SIGNATURE_DOMAIN_V2 + codec.encode("ascii") + b"\x00" + payload

#: Limits checked before any expensive work. They bound memory for a hostile input.
#: A real bundle of 10,000 rules is ~200 KB; 16 MiB leaves two orders of magnitude of headroom.
MAX_ENVELOPE_BYTES = 16 * 1024 * 1024
#: The payload is an xz or gzip stream; refuse to inflate beyond this (decompression-bomb protection).
MAX_PAYLOAD_BYTES = 64 * 1024 * 1024
#: Memory the xz decoder may use. The compiler writes preset 6 (8 MiB dictionary, ~9 MiB to
#: decode); a stream asking for more than this was not written by Strata.
MAX_DECODER_MEMORY = 128 * 1024 * 1024
#: msgpack nesting depth allowed in a payload (IR trees are shallow; 64 is generous).
MAX_NESTING = 64
#: Bounds checked on the inflated payload *before* it is unpacked (``runtime/bounds.py``): the
#: number of msgpack objects (a map entry counts two), the nesting of containers (IR nesting plus
#: the records around it and nested content), and the length of one string or byte string. A
#: 10,000-rule bundle holds 344,000 objects (14 MB as Python objects); 2,000,000 bounds a payload
#: to roughly 100 MB of Python objects, whatever its compressed size.
MAX_PAYLOAD_OBJECTS = 2_000_000
MAX_PAYLOAD_DEPTH = 2 * MAX_NESTING
MAX_PAYLOAD_STRING = 1024 * 1024
#: IR nodes in all conditions of a bundle (each becomes source text and bytecode when prepared);
#: a 10,000-rule bundle has about 32,000.
MAX_IR_NODES = 1_000_000
#: Items of one LIST/MAP node, and characters of one string or bytes literal, in the IR.
MAX_LITERAL_ITEMS = 100_000
MAX_LITERAL_BYTES = 64 * 1024

#: What one visitor's cookie must hold of a rule set (edge_server/session.py, the worker's session
#: cookie): the compiler refuses a rule set beyond these, and both cookie readers derive their bounds
#: from them, so every state a decision writes is read back (docs/security.md, "Limits").
#: Characters of an id (slot, rule, segment, experiment, variant, goal, model, feature): the
#: ``maxLength`` of ``$defs/id`` and ``$defs/ident`` in rulesets/schema.json (a test keeps them equal).
MAX_ID_LENGTH = 64
#: Variants of one experiment. Each exposure in the cookie carries its allocation period, the
#: variants' weights in basis points joined by ``/``; more variants would make it unreadable.
MAX_VARIANTS = 20


def period_length(variants: int) -> int:
    """The longest allocation period of an experiment with this many variants: each weight at most
    ``10000`` (five digits), one ``/`` between two."""
    return 6 * variants - 1


#: The longest period a cookie reader accepts (119 characters).
MAX_PERIOD = period_length(MAX_VARIANTS)

#: Segment layers, most general first. Candidates are ordered most specific first.
LAYERS = ("broad", "mid", "specific")

#: Signal categories. Which of them need consent is declared per rule set (default: behavioral).
CATEGORIES = ("contextual", "technical", "behavioral")

#: Number of buckets for experiment and holdout assignment (see docs/bucketing.md).
BUCKETS = 10_000


class Op:
    """IR opcodes: every IR node is a msgpack array whose first element is one of these.

    The table (operands and meaning) is in docs/bundle-format.md; keep both in step.
    """

    LIT = 0  # [LIT, value]               null/bool/int/double/string/bytes literal
    ULIT = 1  # [ULIT, int]               uint literal
    SIG = 2  # [SIG, index]               signal value by index into the signal table
    SEG = 3  # [SEG, index]               segment result by index into the segment table
    VAR = 4  # [VAR, depth]               comprehension variable, 0 = innermost
    SEL = 5  # [SEL, expr, field]         field selection on a map or record
    HAS = 6  # [HAS, expr, field]         presence test of a field
    SIGHAS = 7  # [SIGHAS, index]         presence test of a signal
    AND = 8  # [AND, a, b]                CEL && (commutative error absorption)
    OR = 9  # [OR, a, b]                  CEL ||
    NOT = 10  # [NOT, a]
    COND = 11  # [COND, c, t, f]          c ? t : f
    CALL = 12  # [CALL, name, overload, args...]  function or operator; overload may be nil
    LIST = 13  # [LIST, items...]
    MAP = 14  # [MAP, k1, v1, k2, v2...]
    COMP = 15  # [COMP, kind, range, body, filter?]  comprehension macro, kind in COMPREHENSIONS
    TYPE = 16  # [TYPE, name]             a type value such as `int`
    COMP2 = 17  # [COMP2, kind, range, body, filter?] two-variable comprehension (key, value)
    SCORE = 18  # [SCORE, model_index]     score.<model>: a double (runtime/score.py)


#: Comprehension kinds for COMP (one variable) and COMP2 (two variables).
COMPREHENSIONS = ("all", "exists", "exists_one", "map", "filter", "transformList", "transformMap")

#: Operand counts per opcode (None: variable, a tuple: one of); used to validate IR shape on load.
ARITY = {
    Op.LIT: 1,
    Op.ULIT: 1,
    Op.SIG: 1,
    Op.SEG: 1,
    Op.VAR: 1,
    Op.SEL: 2,
    Op.HAS: 2,
    Op.SIGHAS: 1,
    Op.AND: 2,
    Op.OR: 2,
    Op.NOT: 1,
    Op.COND: 3,
    Op.CALL: None,
    Op.LIST: None,
    Op.MAP: None,
    Op.COMP: (3, 4),
    Op.TYPE: 1,
    Op.COMP2: (3, 4),
    Op.SCORE: 1,
}

#: Limits of the payload's ``models`` (docs/bundle-format.md): they bound the work of one score
#: (at most 64 features, each one dict lookup, bisect or list scan) and of all scores of a decision,
#: which is why the evaluation budget does not charge for scores.
MAX_MODELS = 16
MAX_FEATURES = 64
MAX_LEVELS = 256
#: Literals of one ``values`` or ``edges`` feature (levels add ``(other)``/``(absent)``, up to 256).
MAX_FEATURE_ARGS = 254
#: Largest |bias| or |weight|: a sigmoid of more than 36 is 1 to double precision anyway.
MAX_WEIGHT = 50.0
#: Feature kinds of a model.
FEATURE_KINDS = ("values", "edges", "contains")

#: What a content block's ``template`` may contain (docs/rulesets.md#templates): the allow-list of the
#: ammonia HTML sanitiser's defaults (no script, style, iframe, form, object; no event handler or
#: style attribute), plus ``class`` everywhere for the site's CSS. The compiler refuses a template
#: using anything else; the edge server sanitises every rendered template with the same list.
TEMPLATE_TAGS = frozenset({
    "a", "abbr", "acronym", "area", "article", "aside", "b", "bdi", "bdo", "blockquote", "br", "caption", "center", "cite", "code", "col",
    "colgroup", "data", "dd", "del", "details", "dfn", "div", "dl", "dt", "em", "figcaption", "figure", "footer", "h1", "h2", "h3", "h4",
    "h5", "h6", "header", "hgroup", "hr", "i", "img", "ins", "kbd", "li", "map", "mark", "nav", "ol", "p", "pre", "q", "rp", "rt", "rtc",
    "ruby", "s", "samp", "small", "span", "strike", "strong", "sub", "summary", "sup", "table", "tbody", "td", "th", "thead", "time", "tr",
    "tt", "u", "ul", "var", "wbr",
})
#: Attributes allowed on every tag ("*") and per tag.
TEMPLATE_ATTRIBUTES: dict[str, frozenset[str]] = {
    "*": frozenset({"class", "lang", "title"}),
    "a": frozenset({"href", "hreflang"}), "bdo": frozenset({"dir"}), "blockquote": frozenset({"cite"}),
    "col": frozenset({"align", "char", "charoff", "span"}), "colgroup": frozenset({"align", "char", "charoff", "span"}),
    "del": frozenset({"cite", "datetime"}), "hr": frozenset({"align", "size", "width"}), "img": frozenset({"align", "alt", "height", "src", "width"}),
    "ins": frozenset({"cite", "datetime"}), "ol": frozenset({"start"}), "q": frozenset({"cite"}),
    "table": frozenset({"align", "char", "charoff", "summary"}), "tbody": frozenset({"align", "char", "charoff"}),
    "td": frozenset({"align", "char", "charoff", "colspan", "headers", "rowspan"}), "tfoot": frozenset({"align", "char", "charoff"}),
    "th": frozenset({"align", "char", "charoff", "colspan", "headers", "rowspan", "scope"}), "thead": frozenset({"align", "char", "charoff"}),
    "tr": frozenset({"align", "char", "charoff"}),
}
