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
import { COMPILE_HINT, LEFT_OUT, PROSE, UNREAD_FIELDS, buildBrowser, buildRecorded, namedErrors, projectTable } from '../tools/build_browser.js';
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

test('browser build: strata.mjs and strata.js open with V8\'s compile hint (every function compiled while the file streams in), and still parse as a module and a script', async () => {
  for (const f of [built.module, built.script]) {
    const source = readFileSync(f, 'utf8');
    assert.ok(source.startsWith(COMPILE_HINT) && COMPILE_HINT === '//# allFunctionsCalledOnLoad\n', `${f} starts ${JSON.stringify(source.slice(0, 40))}`);
  }
  assert.doesNotThrow(() => new Function(readFileSync(built.script, 'utf8'))); // eslint-disable-line no-new-func
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

test('browser build: its projection of the contract tables holds every key the built module reads, at load and over every vector and template', async () => {
  const recorded = await buildRecorded(dir); // the same module, the tables whole and recording each key read
  globalThis.__strataTableReads = new Set();
  const S = await import(pathToFileURL(recorded).href);
  const { wrong } = await vectorMismatches(S, async (rel) => readFileSync(path.join(dir, 'vectors', rel), 'utf8'));
  assert.deepEqual(wrong, []);
  await S.loadSanitizer();
  for (const c of readJson('render.json').cases.slice(0, 300)) S.render(c.content);
  const files = { 'edge_contract.json': ['edge_server', 'edge_contract.json'], 'format.json': ['runtime', 'format.json'], 'stdlib.json': ['runtime', 'stdlib.json'] };
  const errors = await namedErrors();
  const projected = Object.fromEntries(Object.entries(files).map(([name, at]) => [name, projectTable(name, JSON.parse(readFileSync(path.join(HERE, '..', '..', ...at), 'utf8')), errors)]));
  // (a prose key is read only by Object.entries over its table, filtered out: the test above proves
  // no module reads one by name)
  const reads = [...globalThis.__strataTableReads].filter((r) => !PROSE.has(r.split('.').pop()));
  const missing = reads.filter((r) => {
    const name = r.match(/^\w+\.json/)[0];
    let v = projected[name];
    for (const k of r.slice(name.length + 1).split('.')) {
      if (v === null || typeof v !== 'object') return false; // a string's or number's method
      if (!Object.hasOwn(v, k)) return !(k in v); // an array's or object's method (map, length...) is no key
      v = v[k];
    }
    return false;
  });
  assert.ok(reads.length > 200, `${reads.length} keys read`);
  assert.deepEqual(missing, []);
  // the error messages kept are those the modules name, and every call names its key (a literal)
  assert.ok(errors.has('signal_value') && errors.has('unknown_signal') && !errors.has('goal_value'), [...errors].join());
  const calls = [];
  for (const dir of ['runtime', 'worker', 'browser']) {
    for (const f of readdirSync(path.join(HERE, '..', dir)).filter((n) => n.endsWith('.js'))) {
      const src = readFileSync(path.join(HERE, '..', dir, f), 'utf8');
      for (const m of src.matchAll(/\b(?:error|message|ClientSignalError)\(\s*([^)\s,]+)/g)) if (!/^["'`]/.test(m[1])) calls.push(`${dir}/${f}: ${m[0]}`);
    }
  }
  assert.deepEqual(calls.filter((c) => !/contract\.js: (message|errorOf|error)\(key|signals\.js: message\(key|decide\.js: error\(e\.key/.test(c)), []);
  // and the tables left out are read by none of the module's code: not one of their keys was read
  for (const [name, keys] of Object.entries(LEFT_OUT)) for (const k of keys) assert.ok(!reads.some((r) => r.startsWith(`${name}.${k}`)), `${name}.${k} is read`);
  // and no entry's unread field (the catalogue's impl, fold, receiver) was read, at any depth
  for (const [name, keys] of Object.entries(UNREAD_FIELDS)) for (const k of keys) assert.ok(!reads.some((r) => r.startsWith(`${name}.`) && r.split('.').includes(k)), `${name}: a ${k} field is read`);
  assert.ok(reads.some((r) => /^stdlib\.json\.functions\.\d+\.overloads\.\d+\.params$/.test(r)), 'the catalogue\'s overloads were read');
});

test('browser module in Node: without an HTML parser, templates go to parse5 (strata-sanitize.mjs) and render as the servers do', async () => {
  const S = await import(pathToFileURL(built.module).href);
  await S.loadSanitizer();
  const cases = readJson('render.json').cases;
  const wrong = cases.filter((c) => S.render(c.content) !== c.html).map((c) => JSON.stringify(c.content).slice(0, 200));
  assert.ok(cases.length > 1000);
  assert.deepEqual(wrong, []);
});

test('browser module: the device part holds the Spider parsers only; a User-Agent one matches loads every parser (strata-crawler.mjs), and device.* equal the worker\'s', async () => {
  const { device } = await import('../worker/device.js'); // the worker's, over the whole list
  const S = await import(`${pathToFileURL(built.module).href}?device`); // an instance of its own: nothing loaded yet
  const loc = new URL('https://shop.example/p?utm_source=x');
  const signalsOf = (ua) => S.pageSignals(1_790_000_000, { nav: { userAgent: ua, languages: ['en'] }, loc, referrer: '' });
  const deviceOf = (s) => [s['device.type'], s['device.os'], s['device.browser']];
  const browsers = [
    'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36',
    'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1',
    'Mozilla/5.0 (Linux; Android 14; SM-X710) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36',
    'Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0', '',
  ];
  const crawlers = ['Java/17.0.2', 'Wget/1.21.4', 'Mozilla/5.0 (compatible; PetalBot;+https://webmaster.petalsearch.com/site/petalbot)', 'Apache-HttpClient/4.5.14 (Java/17.0.9)'];
  await S.loadDeviceRules(browsers[0]);
  for (const ua of browsers) assert.deepEqual(deviceOf(signalsOf(ua)), device(ua, null, null), ua);
  // a crawler a Spider parser matches, the parsers before it not loaded: said, not guessed
  assert.throws(() => signalsOf('Java/17.0.2'), /device parsers before a Spider match are not loaded; .*loadDeviceRules\(userAgent\)/);
  for (const ua of crawlers) {
    await S.loadDeviceRules(ua);
    assert.deepEqual(deviceOf(signalsOf(ua)), device(ua, null, null), ua);
  }
  assert.deepEqual(deviceOf(signalsOf('Java/17.0.2')), ['bot', '', 'Java']);
  const nokia = '(Nokia)([ _\\\\-]{0,5})'; // a device parser (DEVICE[300]), as esbuild writes it
  assert.ok(!readFileSync(built.parts.device, 'utf8').includes(nokia) && readFileSync(built.parts.crawler, 'utf8').includes(nokia), 'the device parsers are in strata-crawler.mjs, not strata-device.mjs');
});
