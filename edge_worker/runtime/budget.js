// The evaluation budget: the port of runtime/budget.py (docs/runtime.md "Evaluation budget").
// One condition may use EVAL_BUDGET work units per decision. Entering a comprehension whose range
// has n elements charges n * weight; a growth function (the catalogue's growth cost classes:
// _+_, join, split, replace) charges the size of its result, computed before the result is
// built (lengths in code points, as Python's len). A charge that would pass the budget is not
// added and ends the condition in an Err whose `budget` flag is set.

import { ALLOC_CHUNK, EVAL_BUDGET, Op, TABLE } from './format.js';
import { CATALOGUE } from './stdlib.js';
import { cpLength } from './values.js';
import { formatComma } from './python.js';

// The budget's constants are the format's (runtime/format.json, "runtime").
export { ALLOC_CHUNK, EVAL_BUDGET };
const GROWTH_COSTS = new Set(TABLE.runtime.growth_costs.values);
/** Function names whose result can be larger than their arguments. */
export const GROWTH = new Set(Array.from(CATALOGUE.values()).filter((f) => GROWTH_COSTS.has(f.cost)).map((f) => f.name));

/** Python's message, `{:,}` thousands separators included. */
export function overMessage(work) {
  return `evaluation budget exceeded: ${formatComma(work)} work units, more than ${formatComma(EVAL_BUDGET)} (a comprehension or a growing string too large)`;
}

/** Code points of `s` (a lone surrogate counts one, as in Python): values.js's cpLength. */
export const cpLen = cpLength;

/** Non-overlapping occurrences of a non-empty `sub` in `s` (Python's str.count). */
function count(s, sub) {
  if (sub === '') return cpLen(s) + 1;
  let k = 0;
  let i = s.indexOf(sub);
  while (i >= 0) {
    k++;
    i = s.indexOf(sub, i + sub.length);
  }
  return k;
}

const chunks = (n) => Math.ceil(n / ALLOC_CHUNK);
const isInt = (v) => typeof v === 'bigint';

/** The units growth call `name` charges for `args` (0 when the types are wrong: the function
 * then fails with its own error). */
export function allocUnits(name, args) {
  if (name === '_+_') {
    const [a, b] = args;
    if (typeof a === 'string' && typeof b === 'string') return chunks(cpLen(a) + cpLen(b));
    if (a instanceof Uint8Array && b instanceof Uint8Array) return chunks(a.length + b.length);
    if (Array.isArray(a) && Array.isArray(b)) return a.length + b.length;
    return 0;
  }
  if (name === 'replace') {
    const [s, old, rep] = args;
    const n = args.length > 3 ? args[3] : null;
    if (typeof s !== 'string' || typeof old !== 'string' || typeof rep !== 'string' || (n !== null && !isInt(n))) return 0;
    let k = count(s, old);
    if (n !== null && n >= 0n && BigInt(k) > n) k = Number(n);
    return chunks(cpLen(s) + k * (cpLen(rep) - cpLen(old)));
  }
  if (name === 'split') {
    const [s, sep] = args;
    const n = args.length > 2 ? args[2] : null;
    if (typeof s !== 'string' || typeof sep !== 'string' || (n !== null && !isInt(n))) return 0;
    let items = sep === '' ? cpLen(s) : count(s, sep) + 1;
    if (n !== null) {
      if (n === 0n) return 0;
      if (n > 0n && BigInt(items) > n) items = Number(n);
    }
    return items;
  }
  if (name === 'join') {
    const items = args[0];
    const sep = args.length > 1 ? args[1] : '';
    if (!Array.isArray(items) || typeof sep !== 'string' || !items.every((x) => typeof x === 'string')) return 0;
    let total = 0;
    for (const x of items) total += cpLen(x);
    return chunks(total + cpLen(sep) * Math.max(0, items.length - 1));
  }
  return 0;
}

/** Charge `units` to condition `cid` in activation `a`; null when it fits, else the work it
 * would have reached (nothing is added then). */
export function charge(a, cid, units) {
  if (a.cid !== cid) {
    // Most decisions charge one condition: a Map only when a second one charges.
    if (a.cid >= 0) (a.w ?? (a.w = new Map())).set(a.cid, a.cw);
    a.cw = a.w !== null ? a.w.get(cid) ?? 0 : 0;
    a.cid = cid;
  }
  const w = a.cw + units;
  if (w > EVAL_BUDGET) return w;
  a.cw = w;
  return null;
}

/** The weight of a comprehension node: the IR nodes of its body and filter, a nested
 * comprehension counting 1 plus the nodes of its range. */
export function weight(node) {
  let w = 0;
  for (let i = 3; i < node.length; i++) w += nodes(node[i]);
  return w;
}

function nodes(node) {
  const op = node[0];
  if (op === Op.COMP || op === Op.COMP2) return 1 + nodes(node[2]);
  if (op === Op.SEL || op === Op.HAS || op === Op.NOT) return 1 + nodes(node[1]);
  let from;
  if (op === Op.CALL) from = 3;
  else if (op === Op.AND || op === Op.OR || op === Op.COND || op === Op.LIST || op === Op.MAP) from = 1;
  else return 1;
  let n = 1;
  for (let i = from; i < node.length; i++) n += nodes(node[i]);
  return n;
}

