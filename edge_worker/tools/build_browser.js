// Builds the browser runtime (browser/index.js, the same runtime/ and worker/ modules) with esbuild:
//   dist/strata.mjs  an ES module (import { start } from './strata.mjs')
//   dist/strata.js   a classic script for a plain <script> tag (browser/script.js: window.strata)
//   dist/strata-re2.mjs, -device.mjs, -crawler.mjs, -sanitize.mjs, -ed25519.mjs  the parts both load with import()
//                    from beside themselves, only when needed (browser/parts.js)
// Usage: node tools/build_browser.js [OUTDIR] [--inputs] [--no-compile-hints]   (npm run build:browser; --inputs lists
// strata.mjs's biggest inputs, from esbuild's metafile, minified bytes); --peers OUTDIR builds the
// peers there the same way (benchmarks/browser_bench.py weighs them). The tests build into a
// temporary directory (tests/browser/). See docs/client-side.md.

import { build } from 'esbuild';
import { readFile, writeFile } from 'node:fs/promises';
import { minify as terser } from 'terser';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.join(HERE, '..');
/** Browsers with BigInt, class fields, ??, Object.hasOwn and DecompressionStream. */
export const TARGET = ['chrome100', 'firefox113', 'safari16.4'];

/** The shared modules whose large dependency the browser loads lazily: each import of one from
 * runtime/ or worker/ resolves, in strata.mjs and strata.js only, to its browser/ counterpart
 * (the same exports, the dependency imported from a part). */
const LAZY = { 'regex_engine.js': 'regex_engine.js', 'uap_regexes.js': 'uap_regexes.js', 'sanitize.js': 'sanitize.js' };
const PARTS = ['re2', 'device', 'crawler', 'sanitize', 'ed25519'];

const lazyParts = {
  name: 'strata-lazy-parts',
  setup(b) {
    b.onResolve({ filter: /^\.\/(regex_engine|uap_regexes|sanitize)\.js$/ }, (args) => {
      const dir = path.basename(args.resolveDir);
      if (dir !== 'runtime' && dir !== 'worker') return undefined;
      return { path: path.join(ROOT, 'browser', LAZY[path.basename(args.path)]) };
    });
  },
};

/** Keys of the contract tables (runtime/format.json, runtime/stdlib.json, edge_server/edge_contract.json)
 * that are prose for readers, never read by the runtime: the browser build leaves them out (some
 * 5 KB gzip); the worker, Node and Deno read the tables whole. test/browser_module.test.js checks
 * that no module reads them. */
export const PROSE = new Set(['doc', 'about', 'meaning']);

/** Top-level tables the browser's modules never read, left out of its copy of each contract file:
 * the server's metric families, counter batches and fleet ledger (worker/contract.js reads them only
 * for the exports that use them, which the browser build drops), and the catalogue's definitions of
 * its typing and cost words. One definition still: the browser build projects the one file.
 * test/browser_module.test.js records every key the built module reads, at load and over the shared
 * vectors, and checks that the projection holds it. */
export const LEFT_OUT = {
  'edge_contract.json': ['metric_families', 'counter_batches', 'fleet_ledger'],
  'stdlib.json': ['typings', 'costs'],
  'format.json': ['arity_doc'],
};

/** Fields of a contract table's entries, at any depth, that no browser module reads: the CEL
 * catalogue's implementation names, constant-folding flags and receiver flags (functions.js and the
 * compiler read them; the browser's modules read a function's name, typing, cost, parameter and result
 * types), and the opcodes' operand descriptions (for readers of format.json). 0.4 KB gzip.
 * test/browser_module.test.js checks that none of them is read. */
export const UNREAD_FIELDS = {
  'stdlib.json': ['impl', 'fold', 'receiver'],
  'format.json': ['operands'],
};

function without(v, drop) {
  if (Array.isArray(v)) return v.map((x) => without(x, drop));
  if (v === null || typeof v !== 'object') return v;
  return Object.fromEntries(Object.entries(v).filter(([k]) => !drop.has(k)).map(([k, x]) => [k, without(x, drop)]));
}

/** The browser build's copy of a contract table (its file name, its parsed JSON): no prose, no
 * LEFT_OUT tables, no UNREAD_FIELDS, and of edge_contract.json's error messages only those in
 * `errors` (namedErrors()). */
export function projectTable(name, table, errors = null) {
  const out = without(table, new Set([...PROSE, ...(UNREAD_FIELDS[name] ?? [])]));
  for (const key of LEFT_OUT[name] ?? []) delete out[key];
  if (name === 'edge_contract.json' && errors !== null) out.errors = Object.fromEntries(Object.entries(out.errors).filter(([k]) => errors.has(k)));
  return out;
}

const TABLE_FILES = /[\\/](format|stdlib|edge_contract)\.json$/;
const ENTRIES = [path.join(ROOT, 'browser', 'module.js'), path.join(ROOT, 'browser', 'script.js'), ...PARTS.map((p) => path.join(ROOT, 'browser', 'parts', `${p}.js`))];

/** The keys of edge_contract.json's error messages that the browser build's modules name: quoted in
 * the source of one of its inputs (every caller of worker/contract.js error() and message() names
 * its key so; test/browser_module.test.js checks the calls). The browser's copy keeps only those. */
export async function namedErrors() {
  const scan = await build({ bundle: true, write: false, metafile: true, logLevel: 'error', platform: 'browser', format: 'esm', absWorkingDir: ROOT,
    outdir: path.join(ROOT, 'scan'), entryPoints: ENTRIES, plugins: [lazyParts] });
  const files = Object.keys(scan.metafile.inputs).filter((f) => f.endsWith('.js') && !f.includes('node_modules'));
  const sources = await Promise.all(files.map((f) => readFile(path.join(ROOT, f), 'utf8')));
  const { errors } = JSON.parse(await readFile(path.join(ROOT, '..', 'edge_server', 'edge_contract.json'), 'utf8'));
  return new Set(Object.keys(errors).filter((k) => sources.some((s) => s.includes(`"${k}"`) || s.includes(`'${k}'`))));
}

const contractTablesOf = (errors) => ({
  name: 'strata-contract-tables',
  setup(b) {
    b.onLoad({ filter: TABLE_FILES }, async (args) => ({
      contents: JSON.stringify(projectTable(path.basename(args.path), JSON.parse(await readFile(args.path, 'utf8')), errors)),
      loader: 'json',
    }));
  },
});

/** For test/browser_module.test.js: the contract tables as they are, each wrapped in a Proxy that adds
 * the path of every key read ('edge_contract.json.http.VARY') to globalThis.__strataTableReads. */
export const recordedTables = {
  name: 'strata-recorded-tables',
  setup(b) {
    b.onLoad({ filter: TABLE_FILES }, async (args) => ({
      contents: `const reads = (globalThis.__strataTableReads ??= new Set());
const wrap = (v, at) => (v === null || typeof v !== 'object' ? v : new Proxy(v, { get(t, k) {
  if (typeof k !== 'string') return t[k];
  reads.add(at + '.' + k);
  return wrap(t[k], at + '.' + k);
} }));
export default wrap(${await readFile(args.path, 'utf8')}, ${JSON.stringify(path.basename(args.path))});`,
      loader: 'js',
    }));
  },
};

/** strata-device.mjs: the uap-core regexes, each browser and OS pattern's required text
 * (worker/device.js requiredText), computed here rather than on a visitor's first page view, and the
 * Spider device parsers with their indexes in the whole list (strata-crawler.mjs). */
const deviceTexts = {
  name: 'strata-device-texts',
  setup(b) {
    b.onLoad({ filter: /[\\/]browser[\\/]parts[\\/]device\.js$/ }, async (args) => {
      const { UA, OS, DEVICE } = await import('../worker/uap_regexes.js');
      const { requiredText } = await import('../worker/device.js');
      const source = await readFile(args.path, 'utf8');
      const spiders = DEVICE.flatMap((d, i) => (d[2] ? [[i, d[0], d[1]]] : []));
      return {
        contents: `${source}\nexport const UA_TEXTS = ${JSON.stringify(UA.map(([p]) => requiredText(p)))};\nexport const OS_TEXTS = ${JSON.stringify(OS.map(([p]) => requiredText(p)))};\n`
          + `export const SPIDERS = ${JSON.stringify(spiders)};\nexport const DEVICE_COUNT = ${DEVICE.length};\n`,
        loader: 'js',
        resolveDir: path.dirname(args.path),
      };
    });
  },
};

/** strata.mjs and strata.js, which every page loads, minified again by terser after esbuild: its
 * compression and its frequency-ordered names take 2 KB gzip (4%) more off than esbuild alone
 * (docs/client-side.md "Size and speed"). Only terser's safe transforms (no `unsafe*`); the lazily
 * loaded parts stay esbuild's (most are libraries loaded for few pages, and terser takes seconds on
 * them). test/browser_module.test.js and tests/browser run every vector through the result. */
const TERSER = { module: true, ecma: 2020, compress: { passes: 2 }, mangle: true, format: { comments: false } };

async function terserPass(file, module) {
  const { code } = await terser(await readFile(file, 'utf8'), { ...TERSER, module });
  await writeFile(file, code);
}

/** The inputs of a build's one output, biggest first: [bytes in the output, input path]. */
export function biggestInputs(metafile) {
  const [output] = Object.values(metafile.outputs);
  return Object.entries(output.inputs).map(([file, v]) => [v.bytesInOutput, file]).sort((a, b) => b[0] - a[0]);
}

/** Only the module, strata-recorded.mjs, built with recordedTables instead of the projection (tests). */
export async function buildRecorded(outdir) {
  const outfile = path.join(outdir, 'strata-recorded.mjs');
  await build({ bundle: true, minify: true, platform: 'browser', target: TARGET, logLevel: 'error', charset: 'utf8', entryPoints: [path.join(ROOT, 'browser', 'module.js')],
    format: 'esm', outfile, plugins: [lazyParts, recordedTables] });
  return outfile;
}

/** V8's explicit compile hint (Chromium 136+; other engines read a comment), first in strata.mjs and
 * strata.js: V8 compiles every function of the file eagerly, on the script-streaming thread while the
 * file arrives, instead of each on its first call on the page's main thread — and the next view's code
 * cache holds them all. Nearly every function of the module runs on every page view (verification,
 * validation, preparation, deciding, rendering). It took a third off every view of TrailBlazer in
 * Chromium (docs/client-side.md, "V8's compile hint"). `--no-compile-hints` leaves it out (for measuring). */
export const COMPILE_HINT = '//# allFunctionsCalledOnLoad\n';

export async function buildBrowser(outdir = path.join(ROOT, 'dist'), { minify = true, metafile = false, terserToo = true, compileHints = true } = {}) {
  const common = { bundle: true, minify, platform: 'browser', target: TARGET, legalComments: 'none', logLevel: 'error', charset: 'utf8' };
  const contractTables = contractTablesOf(await namedErrors());
  const core = await build({ ...common, metafile, entryPoints: [path.join(ROOT, 'browser', 'module.js')], format: 'esm', outfile: path.join(outdir, 'strata.mjs'), plugins: [lazyParts, contractTables] });
  await build({ ...common, entryPoints: [path.join(ROOT, 'browser', 'script.js')], format: 'iife', outfile: path.join(outdir, 'strata.js'), plugins: [lazyParts, contractTables] });
  if (minify && terserToo) await Promise.all([terserPass(path.join(outdir, 'strata.mjs'), true), terserPass(path.join(outdir, 'strata.js'), false)]);
  if (compileHints) for (const f of ['strata.mjs', 'strata.js']) await writeFile(path.join(outdir, f), COMPILE_HINT + await readFile(path.join(outdir, f), 'utf8'));
  const parts = {};
  for (const name of PARTS) {
    parts[name] = path.join(outdir, `strata-${name}.mjs`);
    await build({ ...common, entryPoints: [path.join(ROOT, 'browser', 'parts', `${name}.js`)], format: 'esm', outfile: parts[name], plugins: [contractTables, deviceTexts] });
  }
  return { module: path.join(outdir, 'strata.mjs'), script: path.join(outdir, 'strata.js'), parts, metafile: core.metafile ?? null };
}

/** The peers browser_bench.py weighs strata.mjs against (devDependencies): GrowthBook's browser SDK,
 * and a CEL evaluator alone (cel-js: parser, checker and evaluator, no signatures, sessions or rendering). */
export const PEERS = ['@growthbook/growthbook', '@marcbachmann/cel-js'];

/** Each peer built as strata.mjs is (every export bundled, for the browser, esbuild minified, then the
 * same terser pass) into `outdir`: {name: {esbuild: file, terser: file}}. The caller weighs the files
 * as it weighs strata.mjs (browser_bench.py: Python's gzip at level 9; gzip implementations differ by
 * up to 1%). */
export async function buildPeers(outdir) {
  const out = {};
  for (const name of PEERS) {
    const base = path.join(outdir, name.replace(/^@/, '').replace(/\//g, '-'));
    const esbuilt = `${base}.esbuild.mjs`;
    await build({ bundle: true, minify: true, platform: 'browser', target: TARGET, legalComments: 'none', logLevel: 'error', charset: 'utf8', format: 'esm',
      outfile: esbuilt, absWorkingDir: ROOT, stdin: { contents: `export * from '${name}';`, resolveDir: ROOT, loader: 'js' } });
    const { code } = await terser(await readFile(esbuilt, 'utf8'), TERSER);
    await writeFile(`${base}.mjs`, code);
    out[name] = { esbuild: esbuilt, terser: `${base}.mjs` };
  }
  return out;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  const args = process.argv.slice(2);
  if (args.includes('--peers')) { // node tools/build_browser.js --peers OUTDIR: the peers built there, their files as JSON (browser_bench.py)
    console.log(JSON.stringify(await buildPeers(path.resolve(args.find((a) => !a.startsWith('--'))))));
    process.exit(0);
  }
  const inputs = args.includes('--inputs'); // list strata.mjs's biggest inputs (esbuild's metafile)
  const dir = args.find((a) => !a.startsWith('--'));
  const out = await buildBrowser(dir ? path.resolve(dir) : undefined, { metafile: inputs, compileHints: !args.includes('--no-compile-hints') });
  console.log(`built ${out.module} and ${out.script}`);
  if (inputs) for (const [bytes, file] of biggestInputs(out.metafile).slice(0, 30)) console.log(`${String(bytes).padStart(7)}  ${file}`);
}
