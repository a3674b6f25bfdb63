// The bundle format's constants, as runtime/format.py defines them (docs/bundle-format.md).

/** Envelope formats: 1 (xz, four fields) and 2 (a signed `codec` field). */
export const FORMAT_VERSION = 1;
export const FORMAT_CODEC = 2;
export const FORMATS = [FORMAT_VERSION, FORMAT_CODEC];
/** Codecs this runtime can inflate (a worker has DecompressionStream('gzip'), no xz). */
export const CODECS = ['gzip'];

export const SIGNATURE_DOMAIN = new TextEncoder().encode('strata-bundle-v1\0');
export const SIGNATURE_DOMAIN_V2 = new TextEncoder().encode('strata-bundle-v2\0');

export const MAX_ENVELOPE_BYTES = 16 * 1024 * 1024;
export const MAX_PAYLOAD_BYTES = 64 * 1024 * 1024;
export const MAX_NESTING = 64;
/** Payload bounds checked before the payload is decoded (runtime/bounds.py). */
export const MAX_PAYLOAD_OBJECTS = 2000000;
export const MAX_PAYLOAD_DEPTH = 2 * MAX_NESTING;
export const MAX_PAYLOAD_STRING = 1024 * 1024;
/** IR bounds (runtime/validate.py): nodes in a bundle, items of a literal, size of a literal. */
export const MAX_IR_NODES = 1000000;
export const MAX_LITERAL_ITEMS = 100000;
export const MAX_LITERAL_BYTES = 64 * 1024;

/** What one visitor's cookie must hold of a rule set (runtime/format.py): the compiler refuses a
 * rule set beyond these, and both cookie readers derive their bounds from them. Characters of an id,
 * variants of an experiment, and the longest allocation period of n variants (weights of at most
 * five digits joined by '/'). */
export const MAX_ID_LENGTH = 64;
export const MAX_VARIANTS = 20;
export const periodLength = (variants) => 6 * variants - 1;
export const MAX_PERIOD = periodLength(MAX_VARIANTS);

export const LAYERS = ['broad', 'mid', 'specific'];
export const CATEGORIES = ['contextual', 'technical', 'behavioral'];
export const BUCKETS = 10000;

/** Model bounds (runtime/validate.py): models per bundle, features per model, levels per
 * feature (one byte each), declared values or edges per feature, |bias| and |weight|. */
export const MAX_MODELS = 16;
export const MAX_FEATURES = 64;
export const MAX_LEVELS = 256;
export const MAX_FEATURE_ARGS = 254;
export const MAX_COEFFICIENT = 50;
export const FEATURE_KINDS = ['values', 'edges', 'contains'];

export const Op = {
  LIT: 0, ULIT: 1, SIG: 2, SEG: 3, VAR: 4, SEL: 5, HAS: 6, SIGHAS: 7, AND: 8, OR: 9, NOT: 10,
  COND: 11, CALL: 12, LIST: 13, MAP: 14, COMP: 15, TYPE: 16, COMP2: 17, SCORE: 18,
};

export const COMPREHENSIONS = ['all', 'exists', 'exists_one', 'map', 'filter', 'transformList', 'transformMap'];

/** Operand counts per opcode (null: variable, an array: one of). */
export const ARITY = {
  [Op.LIT]: 1, [Op.ULIT]: 1, [Op.SIG]: 1, [Op.SEG]: 1, [Op.VAR]: 1, [Op.SEL]: 2, [Op.HAS]: 2,
  [Op.SIGHAS]: 1, [Op.AND]: 2, [Op.OR]: 2, [Op.NOT]: 1, [Op.COND]: 3, [Op.CALL]: null,
  [Op.LIST]: null, [Op.MAP]: null, [Op.COMP]: [3, 4], [Op.TYPE]: 1, [Op.COMP2]: [3, 4], [Op.SCORE]: 1,
};
