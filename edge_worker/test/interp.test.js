// Closures built from the IR: the one-loop && / || chains give exactly the results of nested
// binary nodes (runtime/interp.py semantics) for every combination of operand outcomes.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Activation, Builder } from '../runtime/interp.js';
import { Err } from '../runtime/values.js';

const AND = 8;
const OR = 9;

// Python's binary evaluation (interp.py _and / _or) as the reference.
function binary(op, x, y) {
  if (op === AND) {
    if (x === false) return false;
    if (y() === false) return false;
    const yv = y();
    if (x === true && yv === true) return true;
    if (x instanceof Err) return x;
    if (yv instanceof Err) return yv;
    return new Err("no matching overload for '_&&_'");
  }
  if (x === true) return true;
  const yv = y();
  if (yv === true) return true;
  if (x === false && yv === false) return false;
  if (x instanceof Err) return x;
  if (yv instanceof Err) return yv;
  return new Err("no matching overload for '_||_'");
}

const OUTCOMES = [true, false, 'e1', 'e2', 1n];

function* combos(n) {
  if (n === 0) {
    yield [];
    return;
  }
  for (const rest of combos(n - 1)) for (const o of OUTCOMES) yield [...rest, o];
}

test('interp_and_or_chains_equal_nested_binary_evaluation', () => {
  for (const op of [AND, OR]) {
    for (const n of [2, 3, 4]) {
      for (const outcomes of combos(n)) {
        // signals hold the outcomes; an 'eK' signal is absent, so reading it is an error
        const names = outcomes.map((_, i) => `s${i}`);
        const values = outcomes.map((o) => (typeof o === 'string' ? undefined : o));
        const leaf = (i) => [2, i];
        let ir = leaf(0);
        for (let i = 1; i < n; i++) ir = [op, ir, leaf(i)];
        const got = new Builder(names, () => null).build(ir)(new Activation(values, []));
        const read = (i) => (values[i] === undefined ? new Err(`no such attribute: signal 's${i}' is absent`) : values[i]);
        let want = read(0);
        for (let i = 1; i < n; i++) want = binary(op, want, () => read(i));
        const norm = (v) => (v instanceof Err ? `Err(${v.message})` : v);
        assert.equal(norm(got), norm(want), `${op === AND ? '&&' : '||'} ${outcomes.join(' ')}`);
      }
    }
  }
});
