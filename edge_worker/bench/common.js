// Shared helpers for the JavaScript benchmarks: fixtures (built by fixtures.py on first use),
// batch timing, result files.

import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';

export const HERE = fileURLToPath(new URL('.', import.meta.url));
export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const OUT = HERE + 'out/';
export const RESULTS = HERE + 'results/';

/** The fixture bundles, compiled by the Python compiler when missing. */
export function fixture(name) {
  if (!existsSync(OUT + 'bench10000.strata') || !existsSync(OUT + name)) {
    const py = existsSync(ROOT + '.venv/bin/python') ? ROOT + '.venv/bin/python' : 'python3';
    execFileSync(py, [HERE + 'fixtures.py'], { stdio: 'inherit' });
  }
  return new Uint8Array(readFileSync(OUT + name));
}

/**
 * Median time per call in microseconds: calls run in batches of `batch` between two clock reads
 * (the clock's own cost, ~30 ns, would otherwise dominate calls of a few hundred ns), over
 * `batches` batches after a warm-up.
 */
export function perCallUs(f, { batch = 100, batches = 300, warmup = 2000 } = {}) {
  for (let i = 0; i < warmup; i++) f();
  const per = [];
  for (let b = 0; b < batches; b++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < batch; i++) f();
    per.push(Number(process.hrtime.bigint() - t0) / batch / 1000);
  }
  per.sort((x, y) => x - y);
  return { median: per[per.length >> 1], p90: per[Math.floor(per.length * 0.9)] };
}

export function writeResults(name, data) {
  mkdirSync(RESULTS, { recursive: true });
  const out = {
    machine: { node: process.version, cpus: os.cpus().length, cpu: os.cpus()[0]?.model, platform: process.platform },
    date: new Date().toISOString(),
    ...data,
  };
  writeFileSync(RESULTS + name, JSON.stringify(out, null, 1) + '\n');
  console.log(`\nwrote ${RESULTS + name}`);
}
