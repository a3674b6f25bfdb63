// Builds the browser runtime (browser/index.js, the same runtime/ and worker/ modules) with esbuild:
//   dist/strata.mjs  an ES module (import { start } from './strata.mjs')
//   dist/strata.js   a classic script for a plain <script> tag (browser/script.js: window.strata)
// Usage: node tools/build_browser.js [OUTDIR]   (npm run build:browser). The tests build into a
// temporary directory (tests/browser/). See docs/client-side.md.

import { build } from 'esbuild';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.join(HERE, '..');
/** Browsers with BigInt, class fields, ??, Object.hasOwn and DecompressionStream. */
export const TARGET = ['chrome100', 'firefox113', 'safari16.4'];

export async function buildBrowser(outdir = path.join(ROOT, 'dist'), { minify = true } = {}) {
  const common = { bundle: true, minify, platform: 'browser', target: TARGET, legalComments: 'none', logLevel: 'error', charset: 'utf8' };
  await build({ ...common, entryPoints: [path.join(ROOT, 'browser', 'index.js')], format: 'esm', outfile: path.join(outdir, 'strata.mjs') });
  await build({ ...common, entryPoints: [path.join(ROOT, 'browser', 'script.js')], format: 'iife', outfile: path.join(outdir, 'strata.js') });
  return { module: path.join(outdir, 'strata.mjs'), script: path.join(outdir, 'strata.js') };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  const out = await buildBrowser(process.argv[2] ? path.resolve(process.argv[2]) : undefined);
  console.log(`built ${out.module} and ${out.script}`);
}
