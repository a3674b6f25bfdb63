// The one CEL catalogue (runtime/stdlib.json, issue #13), read by this runtime as by the Python
// one: IR validation takes the function names and the overload check from it. The port of
// runtime/stdlib.py `accepts`; functions.js holds the implementations, keyed by the same names
// (test/stdlib.test.js compares).

import RAW from '../../runtime/stdlib.json' with { type: 'json' };
import { splitArgs } from './signals.js';

/** Function or operator name -> its catalogue entry ({name, impl, typing, cost, fold, overloads}). */
export const CATALOGUE = new Map(RAW.functions.map((f) => [f.name, f]));

const NUMBERS = ['int', 'uint', 'double'];

/** 'map(string, list(int))' -> ['map', ['string', 'list(int)']]. */
function split(t) {
  const i = t.indexOf('(');
  if (i < 0 || !t.endsWith(')')) return [t, []];
  return [t.slice(0, i), splitArgs(t.slice(i + 1, -1))];
}

/** Does the concrete type `actual` fit the parameter `param` (type letters bind once)? */
function bind(param, actual, env) {
  if (param.length === 1 && param >= 'A' && param <= 'Z') {
    if (!env.has(param)) env.set(param, actual);
    const bound = env.get(param);
    return bound === actual || bound === 'dyn' || actual === 'dyn';
  }
  if (actual === 'dyn') return true;
  const [pb, pp] = split(param);
  const [ab, ap] = split(actual);
  return pb === ab && pp.length === ap.length && pp.every((p, i) => bind(p, ap[i], env));
}

/** Is `overload` (a CALL node's comma-separated argument types; null = dispatch at run time) a
 * valid instantiation of `name` for `nargs` arguments? */
export function accepts(name, overload, nargs) {
  // A bundle repeats the same few overloads thousands of times: remember each answer.
  const key = `${name}|${overload}|${nargs}`;
  let r = ACCEPTED.get(key);
  if (r === undefined) {
    r = check(name, overload, nargs);
    if (ACCEPTED.size < 4096) ACCEPTED.set(key, r);
  }
  return r;
}

const ACCEPTED = new Map();

function check(name, overload, nargs) {
  const f = CATALOGUE.get(name);
  if (f === undefined) return false;
  if (overload === null) return true;
  const types = splitArgs(overload);
  if (types.length !== nargs) return false;
  switch (f.typing) {
    case 'equality': return nargs === 2;
    case 'membership': return nargs === 2 && ['list', 'map', 'dyn'].includes(split(types[1])[0]);
    case 'numeric_variadic': return types.every((t) => [...NUMBERS, 'list', 'dyn'].includes(split(t)[0]));
    case 'unchecked': return true;
  }
  return f.overloads.some((o) => {
    const env = new Map();
    return o.params.length === nargs && o.params.every((p, i) => bind(p, types[i], env));
  });
}

/** `t` with its type letters replaced from `env`; null if a letter stays unbound. */
function subst(t, env) {
  if (t.length === 1 && t >= 'A' && t <= 'Z') return env.has(t) ? env.get(t) : null;
  const [base, params] = split(t);
  if (params.length === 0) return t;
  const subs = params.map((p) => subst(p, env));
  if (subs.some((x) => x === null)) return null;
  return `${base}(${subs.join(', ')})`;
}

/** The result type of a call as the catalogue proves it (runtime/stdlib.py result_type), or null. */
export function resultType(name, overload) {
  const f = CATALOGUE.get(name);
  if (f === undefined) return null;
  if (overload === null || f.typing !== 'overloads') {
    const results = new Set(f.overloads.map((o) => o.result));
    const only = results.size === 1 ? Array.from(results)[0] : null;
    return only !== null && subst(only, new Map()) !== null ? only : null;
  }
  const types = splitArgs(overload);
  for (const o of f.overloads) {
    const env = new Map();
    if (o.params.length === types.length && o.params.every((p, i) => bind(p, types[i], env))) return subst(o.result, env);
  }
  return null;
}

/** [fewest, most] arguments a call to `name` takes (most null: any number). */
export function arity(name) {
  const ovs = CATALOGUE.get(name).overloads;
  const variadic = ovs.some((o) => o.params.includes('...'));
  const least = Math.min(...ovs.map((o) => o.params.length - (o.params.includes('...') ? 1 : 0)));
  return [least, variadic ? null : Math.max(...ovs.map((o) => o.params.length))];
}
