// The evaluation budget (runtime/budget.js, the port of runtime/budget.py): what a growth call
// charges is the size of the result it then builds, counted in code points; a charge over the
// budget fails without being added; a comprehension is charged n * w on entry.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ALLOC_CHUNK, EVAL_BUDGET, allocUnits, charge, cpLen, weight } from '../runtime/budget.js';
import { add, join, replace, split } from '../runtime/functions.js';
import { Activation, Builder } from '../runtime/interp.js';
import { Err } from '../runtime/values.js';

// A seeded generator (xorshift32): the same inputs on every run.
function rng(seed) {
  let x = seed >>> 0 || 1;
  return (n) => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x % n;
  };
}

// String classes: ASCII, 2-byte, BMP, astral (two UTF-16 units), a lone surrogate, the separators.
const ALPHABET = ['a', 'b', '-', 'é', '中', '😀', '\ud800', ''];
function str(r, max) {
  let s = '';
  const n = r(max + 1);
  for (let i = 0; i < n; i++) s += ALPHABET[r(ALPHABET.length)];
  return s;
}

const chunks = (s) => Math.ceil(cpLen(s) / ALLOC_CHUNK);

test('budget_alloc_units_equal_the_size_of_the_result_built', () => {
  const r = rng(14);
  for (let i = 0; i < 3000; i++) {
    const a = str(r, 40);
    const b = str(r, 40);
    assert.equal(allocUnits('_+_', [a, b]), chunks(add(a, b)), `${a} + ${b}`);
    const old = str(r, 2);
    const n = BigInt(r(6)) - 2n;
    assert.equal(allocUnits('replace', [a, old, b]), chunks(replace(a, old, b)), `${a}.replace(${old}, ${b})`);
    assert.equal(allocUnits('replace', [a, old, b, n]), chunks(replace(a, old, b, n)), `${a}.replace(${old}, ${b}, ${n})`);
    if (!a.includes('\ud800') && !old.includes('\ud800')) {
      assert.equal(allocUnits('split', [a, old]), split(a, old).length, `${a}.split(${old})`);
      // Python's formula (runtime/budget.py) counts "".split("", 1) == [""] as 0 items: mirrored, not "fixed".
      const corner = a === '' && old === '' && n === 1n;
      assert.equal(allocUnits('split', [a, old, n]), corner ? 0 : split(a, old, n).length, `${a}.split(${old}, ${n})`);
    }
    const items = Array.from({ length: r(5) }, () => str(r, 6));
    assert.equal(allocUnits('join', [items, b]), chunks(join(items, b)), `${items}.join(${b})`);
    const la = Array.from({ length: r(5) }, () => 1n);
    assert.equal(allocUnits('_+_', [la, items]), la.length + items.length);
  }
});

test('budget_alloc_units_are_zero_for_arguments_of_the_wrong_types', () => {
  assert.equal(allocUnits('_+_', ['a', 1n]), 0);
  assert.equal(allocUnits('replace', ['a', 'b', 1n]), 0);
  assert.equal(allocUnits('split', ['a', 'b', 'c']), 0);
  assert.equal(allocUnits('join', [['a', 1n], '']), 0);
});

test('budget_charge_over_the_budget_fails_without_being_added', () => {
  const a = new Activation([], []);
  assert.equal(charge(a, 0, EVAL_BUDGET - 1), null);
  assert.equal(charge(a, 0, 2), EVAL_BUDGET + 1);
  assert.equal(a.work(), EVAL_BUDGET - 1);
  assert.equal(charge(a, 0, 1), null);
  assert.equal(charge(a, 1, EVAL_BUDGET), null, 'another condition has its own count');
  assert.equal(charge(a, 0, 2), EVAL_BUDGET + 2, 'and the first one keeps its count');
  assert.equal(a.count(0), EVAL_BUDGET);
  assert.equal(a.count(1), EVAL_BUDGET);
  assert.equal(a.work(), EVAL_BUDGET);
});

test('budget_comprehension_is_charged_n_times_its_weight_on_entry', () => {
  // [1..n].exists(x, x == 0): weight 3 (CALL, VAR, LIT); charged n * 3 before the first element.
  const body = [12, '_==_', 'int,int', [4, 0], [0, 0]];
  const comp = (n) => [15, 'exists', [13, ...Array.from({ length: n }, (_, i) => [0, i + 1])], body];
  assert.equal(weight(comp(1)), 3);
  assert.equal(weight([15, 'exists', [2, 0], comp(2)]), 1 + 3, 'a nested comprehension: 1 + the nodes of its range');
  for (const n of [0, 1, 3333, 3334, 5000]) {
    const a = new Activation([], []);
    const got = new Builder([], () => false).build(comp(n), 7)(a);
    if (n * 3 <= EVAL_BUDGET) {
      assert.equal(got, false);
      assert.equal(a.work(), n * 3);
    } else {
      assert.ok(got instanceof Err && got.budget, `n=${n}`);
      assert.equal(got.message, `evaluation budget exceeded: ${(n * 3).toLocaleString('en-US')} work units, more than 10,000 (a comprehension or a growing string too large)`);
    }
  }
});
