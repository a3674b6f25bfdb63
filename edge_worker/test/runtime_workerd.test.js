// The runtime inside workerd (the open-source Cloudflare Workers runtime), not only node: a
// worker built with esbuild from runtime/index.js verifies a vector bundle with the platform's
// WebCrypto and DecompressionStream, decides a sample of the decision vectors, and must answer
// exactly what the Python runtime answered. workerd refuses eval/new Function, so this also
// proves the closures need no code from strings.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { readJson, readVector } from './vectors.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const WORKERD = path.join(HERE, '..', 'node_modules', '.bin', 'workerd');
const spec = readJson('decisions.json');
const CASES = spec.cases.filter((_, i) => i % 5 === 0);

let dir;
let proc;
let port;

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.listen(0, '127.0.0.1', () => {
      const { port: p } = srv.address();
      srv.close(() => resolve(p));
    });
    srv.on('error', reject);
  });
}

const WORKER = `
import { importKeys, prepareBundle } from './runtime/index.js';
import { BUNDLES, PEM, NOW } from './data.js';

let prepared = null;
async function load() {
  const keys = await importKeys([PEM]);
  const out = {};
  for (const [name, b64] of Object.entries(BUNDLES)) {
    const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    out[name] = await prepareBundle(bytes, { keys, now: NOW });
  }
  return out;
}

export default {
  async fetch(request) {
    prepared ??= await load();
    const cases = await request.json();
    const results = cases.map((c) => {
      const out = prepared[c.bundle].decide(c.signals, c.slots, { sessionId: c.session_id, caps: c.caps, consent: c.consent, now: c.now, explain: true, assignments: c.assignments ?? null });
      return { outcome: out, cap_hits: out.capHits, exposures: out.exposures, errors: out.errors, holdout: out.holdout };
    });
    return new Response(JSON.stringify(results), { headers: { 'content-type': 'application/json' } });
  },
};
`;

before(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'strata-workerd-'));
  port = await freePort();
  const bundles = {};
  for (const [name, rel] of Object.entries(spec.bundles)) bundles[name] = readVector(rel).toString('base64');
  writeFileSync(path.join(dir, 'data.js'), `export const BUNDLES = ${JSON.stringify(bundles)};\nexport const PEM = ${JSON.stringify(readVector(spec.key).toString('utf8'))};\nexport const NOW = ${spec.now};\n`);
  writeFileSync(path.join(dir, 'entry.js'), WORKER.replace("'./runtime/index.js'", JSON.stringify(path.join(HERE, '..', 'runtime', 'index.js'))));
  await build({ entryPoints: [path.join(dir, 'entry.js')], bundle: true, format: 'esm', outfile: path.join(dir, 'worker.js'), logLevel: 'error' });
  writeFileSync(path.join(dir, 'config.capnp'), `using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [ (name = "main", worker = .w) ],
  sockets = [ (name = "http", address = "127.0.0.1:${port}", http = (), service = "main") ],
);
const w :Workerd.Worker = (
  modules = [ (name = "worker.js", esModule = embed "worker.js") ],
  compatibilityDate = "2024-09-23",
);
`);
  proc = spawn(WORKERD, ['serve', path.join(dir, 'config.capnp'), '--experimental'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  proc.stderr.on('data', (d) => { stderr += d; });
  for (let i = 0; i < 200; i++) {
    try {
      await new Promise((resolve, reject) => {
        const s = net.connect(port, '127.0.0.1', () => s.end(resolve));
        s.on('error', reject);
      });
      return;
    } catch {
      if (proc.exitCode !== null) throw new Error(`workerd exited: ${stderr}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  throw new Error(`workerd did not start: ${stderr}`);
});

after(() => {
  if (proc) proc.kill();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('workerd_runtime_decides_the_decision_vectors_as_python', async () => {
  const res = await fetch(`http://127.0.0.1:${port}/`, { method: 'POST', body: JSON.stringify(CASES) });
  assert.equal(res.status, 200, await res.clone().text());
  const got = await res.json();
  assert.equal(got.length, CASES.length);
  assert.ok(CASES.length >= 40);
  CASES.forEach((c, i) => {
    const e = c.expect;
    assert.deepEqual(got[i], { outcome: e.outcome, cap_hits: e.cap_hits, exposures: e.exposures, errors: e.errors, holdout: e.holdout }, c.name);
  });
});
