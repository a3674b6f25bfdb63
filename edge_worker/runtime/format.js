// The bundle format's constants (docs/bundle-format.md), read from the one table runtime/format.json
// that the Python runtime's runtime/format.py reads too; test/format.test.js and
// tests/runtime/test_format.py fail when either disagrees with it.

import TABLE from '../../runtime/format.json' with { type: 'json' };

export { TABLE };
const LIMITS = Object.fromEntries(Object.entries(TABLE.limits).map(([name, entry]) => [name, entry.value]));

/** Envelope formats: 1 (xz, four fields) and 2 (a signed `codec` field). */
export const FORMAT_VERSION = TABLE.formats.FORMAT_VERSION;
export const FORMAT_CODEC = TABLE.formats.FORMAT_CODEC;
export const FORMATS = [FORMAT_VERSION, FORMAT_CODEC];
/** Codecs this runtime can inflate: the table's, less xz (a worker has DecompressionStream('gzip'), no xz). */
export const CODECS = TABLE.codecs.filter((c) => c !== 'xz');

export const SIGNATURE_DOMAIN = new TextEncoder().encode(TABLE.signature_domains[FORMAT_VERSION]);
export const SIGNATURE_DOMAIN_V2 = new TextEncoder().encode(TABLE.signature_domains[FORMAT_CODEC]);

// Limits (each one's reason is its "doc" in format.json). MAX_DECODER_MEMORY is xz's: not here.
export const MAX_ENVELOPE_BYTES = LIMITS.MAX_ENVELOPE_BYTES;
export const MAX_PAYLOAD_BYTES = LIMITS.MAX_PAYLOAD_BYTES;
export const MAX_NESTING = LIMITS.MAX_NESTING;
/** Payload bounds checked before the payload is decoded (runtime/bounds.py). */
export const MAX_PAYLOAD_OBJECTS = LIMITS.MAX_PAYLOAD_OBJECTS;
export const MAX_PAYLOAD_DEPTH = LIMITS.MAX_PAYLOAD_DEPTH;
export const MAX_PAYLOAD_STRING = LIMITS.MAX_PAYLOAD_STRING;
/** IR bounds (runtime/validate.py): nodes in a bundle, items of a literal, size of a literal. */
export const MAX_IR_NODES = LIMITS.MAX_IR_NODES;
export const MAX_LITERAL_ITEMS = LIMITS.MAX_LITERAL_ITEMS;
export const MAX_LITERAL_BYTES = LIMITS.MAX_LITERAL_BYTES;
/** Characters of a CALL node's overload string. */
export const MAX_OVERLOAD_LENGTH = LIMITS.MAX_OVERLOAD_LENGTH;
/** Largest max_items / max_length a signal may declare. */
export const MAX_SIGNAL_BOUND = LIMITS.MAX_SIGNAL_BOUND;

/** What one visitor's cookie must hold of a rule set (runtime/format.py): the compiler refuses a
 * rule set beyond these, and both cookie readers derive their bounds from them. Characters of an id,
 * variants of an experiment, and the longest allocation period of n variants (weights of at most
 * five digits joined by '/'). */
export const MAX_ID_LENGTH = LIMITS.MAX_ID_LENGTH;
export const MAX_VARIANTS = LIMITS.MAX_VARIANTS;
export const periodLength = (variants) => 6 * variants - 1;
export const MAX_PERIOD = periodLength(MAX_VARIANTS);
/** msgpack bytes of the cookie state one decision can write (compiler/decision_state.py refuses more). */
export const MAX_DECISION_STATE = LIMITS.MAX_DECISION_STATE;
/** Model bounds (runtime/validate.py): models per bundle, features per model, levels per
 * feature (one byte each), declared values or edges per feature, |bias| and |weight|. */
export const MAX_MODELS = LIMITS.MAX_MODELS;
export const MAX_FEATURES = LIMITS.MAX_FEATURES;
export const MAX_LEVELS = LIMITS.MAX_LEVELS;
export const MAX_FEATURE_ARGS = LIMITS.MAX_FEATURE_ARGS;
export const MAX_COEFFICIENT = LIMITS.MAX_COEFFICIENT;
/** Knots of one coefficient set's calibration, and features one cross combines (docs/models.md). */
export const MAX_CALIBRATION_KNOTS = LIMITS.MAX_CALIBRATION_KNOTS;
export const MAX_CROSS_PARTS = LIMITS.MAX_CROSS_PARTS;

// Constants every runtime applies (no bundle carries them); each one's reason is its "doc" in format.json.
/** Work units one condition may use in one decision, and characters of a string result per unit (budget.js). */
export const EVAL_BUDGET = TABLE.runtime.EVAL_BUDGET.value;
export const ALLOC_CHUNK = TABLE.runtime.ALLOC_CHUNK.value;
/** Seconds of tolerance between the signer's clock and this node's. */
export const DEFAULT_CLOCK_SKEW = TABLE.runtime.DEFAULT_CLOCK_SKEW.value;
/** Bounds of a signal that declares none. */
export const DEFAULT_MAX_ITEMS = TABLE.runtime.DEFAULT_MAX_ITEMS.value;
export const DEFAULT_MAX_LENGTH = TABLE.runtime.DEFAULT_MAX_LENGTH.value;
/** The edges' default request body limit (STRATA_MAX_BODY). */
export const CLIENT_BODY_BYTES = TABLE.runtime.CLIENT_BODY_BYTES.value;

export const LAYERS = TABLE.layers.values;
export const CATEGORIES = TABLE.categories.values;
/** Buckets of experiment and holdout assignment; traffic ranges, weights and the holdout share are out of this many. */
export const BUCKETS = TABLE.BUCKETS.value;
/** The counting buckets of a model's log-odds (docs/models.md, "Counting"): {low, per_unit, buckets, first, legacy}. */
export const SCORE_BUCKETS = Object.freeze({ low: TABLE.SCORE_BUCKETS.low, per_unit: TABLE.SCORE_BUCKETS.per_unit,
  buckets: TABLE.SCORE_BUCKETS.buckets, first: TABLE.SCORE_BUCKETS.first, legacy: TABLE.SCORE_BUCKETS.legacy });
/** The counting buckets of an uplift model's score (docs/models.md, "Thresholds of an uplift score"): {low, per_unit, buckets, first}. */
export const UPLIFT_BUCKETS = Object.freeze({ low: TABLE.UPLIFT_BUCKETS.low, per_unit: TABLE.UPLIFT_BUCKETS.per_unit,
  buckets: TABLE.UPLIFT_BUCKETS.buckets, first: TABLE.UPLIFT_BUCKETS.first });
export const FEATURE_KINDS = TABLE.feature_kinds;

/** IR opcodes by name ({LIT: 0, ULIT: 1, ...}). */
export const Op = Object.freeze(Object.fromEntries(TABLE.ops.map((op) => [op.name, op.code])));

export const COMPREHENSIONS = TABLE.comprehensions;

/** Operand counts per opcode (null: variable, an array: one of). */
export const ARITY = Object.freeze(Object.fromEntries(TABLE.ops.map((op) => [op.code, op.arity])));

/** The fields each map of the payload may have, by map (payload, signal, segment...). */
export const FIELDS = Object.freeze(Object.fromEntries(Object.entries(TABLE.fields).filter(([k]) => k !== 'doc')));

/** What a content block's template may contain: tags, and attributes on every tag ("*") and per tag. */
export const TEMPLATE_TAGS = new Set(TABLE.template.tags);
// null prototype: an element named `constructor` has no attributes allowed, not Object's
export const TEMPLATE_ATTRIBUTES = Object.freeze(Object.assign(Object.create(null), TABLE.template.attributes));
