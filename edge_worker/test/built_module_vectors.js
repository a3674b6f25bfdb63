// The shared vectors (tests/vectors/) through the built browser module (dist/strata.mjs), with no
// platform API but what every runtime has: used unchanged by Node (browser_module.test.js) and by
// Deno (the same file, run by `deno run`). `read(rel)` gives a vector file's text.

/** JSON with object keys sorted: Python's dicts and JavaScript's objects compared by content. */
function canonical(v) {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v !== null && typeof v === 'object') return `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${canonical(v[k])}`).join(',')}}`;
  return JSON.stringify(v);
}

/** The cases of decisions.json and refused.json whose answer differs from Python's, and the count checked. */
export async function vectorMismatches(S, read) {
  const wrong = [];
  const spec = JSON.parse(await read('decisions.json'));
  const keys = await S.importKeys([await read(spec.key)]);
  const bytes = async (rel) => Uint8Array.from(atob(await read(`${rel}.b64`)), (c) => c.charCodeAt(0));
  const prepared = {};
  for (const [name, rel] of Object.entries(spec.bundles)) prepared[name] = await S.prepareBundle(await bytes(rel), { keys, now: spec.now });
  for (const c of spec.cases) {
    const opts = { sessionId: c.session_id, caps: c.caps, consent: c.consent, now: c.now, assignments: c.assignments ?? null };
    const out = prepared[c.bundle].decide(c.signals, c.slots, { ...opts, explain: true });
    const plain = prepared[c.bundle].decide(c.signals, c.slots, opts);
    const got = { outcome: JSON.parse(JSON.stringify(out)), plain: JSON.parse(JSON.stringify(plain)), cap_hits: out.capHits, exposures: out.exposures,
      errors: out.errors, budget_exceeded: out.budgetExceeded, work: out.work, holdout: out.holdout };
    for (const [k, v] of Object.entries(got)) if (canonical(v) !== canonical(c.expect[k])) wrong.push(`${c.name} ${k}`);
  }
  const refused = JSON.parse(await read('refused.json'));
  const rkeys = await S.importKeys([await read(refused.key)]);
  for (const c of refused.cases) {
    let code = 'accepted';
    let message = null;
    try {
      await S.prepareBundle(Uint8Array.from(atob(c.bundle), (ch) => ch.charCodeAt(0)), { keys: rkeys, now: refused.now, name: c.options.name ?? null, held: c.options.held ?? null });
    } catch (e) {
      code = e.code;
      message = S.refusal(e);
    }
    if (code !== c.expect || message !== c.message) wrong.push(`${c.name}: ${code} ${message}`);
  }
  return { wrong, checked: spec.cases.length + refused.cases.length };
}
