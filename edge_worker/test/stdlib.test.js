// The JS runtime implements exactly the functions of the one CEL catalogue (runtime/stdlib.json),
// and validates overload ids as the Python runtime does.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ARITY, FUNCTIONS } from '../runtime/functions.js';
import { CATALOGUE, accepts } from '../runtime/stdlib.js';

test('stdlib_function_table_equals_the_catalogue', () => {
  assert.deepEqual(Object.keys(FUNCTIONS).sort(), Array.from(CATALOGUE.keys()).sort());
});

test('stdlib_arity_table_names_the_python_implementations', () => {
  for (const [name, [impl]] of Object.entries(ARITY)) assert.equal(impl, CATALOGUE.get(name).impl, name);
});

test('stdlib_accepts_checked_overloads_and_refuses_type_confused_ones', () => {
  assert.equal(accepts('size', 'list(string)', 1), true);
  assert.equal(accepts('@in', 'string,string', 2), false);
  assert.equal(accepts('@in', 'string,list(string)', 2), true);
  assert.equal(accepts('_<_', 'int,int', 2), true);
  assert.equal(accepts('_<_', 'list(int),list(int)', 2), false);
  assert.equal(accepts('contains', 'string,string', 2), true);
  assert.equal(accepts('contains', 'int,string', 2), false);
  assert.equal(accepts('_==_', 'int,string', 2), true);
  assert.equal(accepts('math.greatest', 'int,double,uint', 3), true);
  assert.equal(accepts('nope', null, 1), false);
  assert.equal(accepts('size', null, 1), true);
});
