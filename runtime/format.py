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
}
