// Other runtimes for free (docs/client-side.md): the built browser module (tools/build_browser.js,
// dist/strata.mjs) imported unchanged by Node and by Deno (the deno binary from npm) decides and
// refuses every shared vector as the Python runtime did (test/built_module_vectors.js). In real
// Chromium: tests/browser/test_browser_vectors.py.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { PROSE, buildBrowser } from '../tools/build_browser.js';
import { VECTORS, readJson } from './vectors.js';
import { vectorMismatches } from './built_module_vectors.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const DENO = path.join(HERE, '..', 'node_modules', '.bin', 'deno');
let dir;
let built;

before(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'strata-built-'));
  built = await buildBrowser(dir);
  // the bundles as base64 text, so the runner needs nothing but text reads on every runtime
  const v = path.join(dir, 'vectors');
  mkdirSync(path.join(v, 'bundles'), { recursive: true });
  for (const f of ['decisions.json', 'refused.json', 'vectors.pub']) writeFileSync(path.join(v, f), readFileSync(path.join(VECTORS, f)));
  for (const rel of Object.values(readJson('decisions.json').bundles)) writeFileSync(path.join(v, `${rel}.b64`), readFileSync(path.join(VECTORS, rel)).toString('base64'));
});

after(() => rmSync(dir, { recursive: true, force: true }));

test('browser module: imported unchanged by Node, every decision and refusal vector equals Python', async () => {
  const S = await import(pathToFileURL(built.module).href);
  assert.equal(typeof S.start, 'function');
  const { wrong, checked } = await vectorMismatches(S, async (rel) => readFileSync(path.join(dir, 'vectors', rel), 'utf8'));
  assert.ok(checked > 300, `${checked} cases`);
  assert.deepEqual(wrong, []);
});

test('browser module: run unchanged by Deno, every decision and refusal vector equals Python', () => {
  const script = path.join(dir, 'deno_vectors.mjs');
  writeFileSync(script, `import * as S from ${JSON.stringify(pathToFileURL(built.module).href)};
import { vectorMismatches } from ${JSON.stringify(pathToFileURL(path.join(HERE, 'built_module_vectors.js')).href)};
const base = ${JSON.stringify(path.join(dir, 'vectors'))};
console.log(JSON.stringify(await vectorMismatches(S, (rel) => Deno.readTextFile(base + '/' + rel))));
`);
  const out = execFileSync(DENO, ['run', '--no-config', '--no-lock', `--allow-read=${dir},${HERE}`, script], { encoding: 'utf8', timeout: 120_000,
    env: { ...process.env, DENO_NO_UPDATE_CHECK: '1', DENO_DIR: path.join(dir, 'deno-cache'), NO_COLOR: '1' } });
  const { wrong, checked } = JSON.parse(out.trim().split('\n').pop());
  assert.ok(checked > 300, `${checked} cases`);
  assert.deepEqual(wrong, []);
});

test('browser build: the contract tables\' prose is left out, and no module of the runtime reads it', () => {
  const source = readFileSync(built.module, 'utf8');
  const table = JSON.parse(readFileSync(path.join(HERE, '..', '..', 'runtime', 'format.json'), 'utf8'));
  assert.ok(table.about.length > 40 && !source.includes(table.about.slice(0, 40)), 'format.json\'s about text is in strata.mjs');
  assert.ok(!source.includes(table.template.doc.slice(0, 40)), 'a doc text is in strata.mjs');
  assert.ok(source.includes(table.template.tags[0]) && source.includes('MAX_ENVELOPE_BYTES'), 'the tables themselves are kept');
  // the worker, Node and Deno read the tables whole: a module reading a prose key would work there and break here
  const words = [...PROSE].join('|');
  const reads = new RegExp(`\\.(${words})\\b|\\[\\s*['"\`](${words})['"\`]\\s*\\]`);
  const found = [];
  for (const dir of ['runtime', 'worker', 'browser', path.join('browser', 'parts')]) {
    for (const f of readdirSync(path.join(HERE, '..', dir)).filter((n) => n.endsWith('.js'))) {
      readFileSync(path.join(HERE, '..', dir, f), 'utf8').split('\n').forEach((line, i) => { if (reads.test(line)) found.push(`${dir}/${f}:${i + 1}: ${line.trim()}`); });
    }
  }
  assert.deepEqual(found, []);
});

test('browser module in Node: without an HTML parser, templates go to parse5 (strata-sanitize.mjs) and render as the servers do', async () => {
  const S = await import(pathToFileURL(built.module).href);
  await S.loadSanitizer();
  const cases = readJson('render.json').cases;
  const wrong = cases.filter((c) => S.render(c.content) !== c.html).map((c) => JSON.stringify(c.content).slice(0, 200));
  assert.ok(cases.length > 1000);
  assert.deepEqual(wrong, []);
});
