// The worker's model training counters and experiment cohorts (worker/model_counts.js, measure.js,
// server.js; docs/models.md "In the edge worker"), driven over the worker's HTTP API. The TrailBlazer
// bundle of the vectors has no models: the tests give its prepared bundle models with the
// runtime's model API (models, levels, ruleHolds; Model.zOf), so what is under test
// is the counting, not the scores (the runtime's own tests cover those).
import assert from "node:assert/strict";
import { test } from "node:test";

import * as runtime from "../runtime/index.js";
import { BUNDLE_URL, VECTORS_PUB, rng, serveBundleOffline } from "./vectors.js";
import { StrataWorker } from "../worker/server.js";
import { CookieCodec, Session, importCookieKeys } from "../worker/session.js";
import { SCORE, UPLIFT, bucketName, scoreBucket } from "../worker/model_counts.js";
import { sigmoid, upliftBucket, upliftBucketName } from "../runtime/score.js";
import { SCORE_BUCKETS } from "../runtime/format.js";

const KEYS = "k1:" + Buffer.alloc(32, 5).toString("base64");
const ENV = { STRATA_BUNDLE: BUNDLE_URL, STRATA_PUB: VECTORS_PUB, STRATA_COOKIE_KEYS: KEYS, STRATA_STATS_TOKEN: "tok" };
const CART = { "cart.items": [{ sku: "TB-SUMMIT2", category: "tents", price: 249.0, quantity: 1 }], "cart.value": 249.0 };
const ctx = { waitUntil() {} };
serveBundleOffline();

// ------------------------------------------------------------------ models over TrailBlazer's signals
const DEVICES = ["mobile", "desktop", "tablet"];
const device = { id: "device", levels: ["mobile", "desktop", "tablet", "(other)", "(absent)"],
  level: (s) => (s["device.type"] === undefined ? 4 : DEVICES.includes(s["device.type"]) ? DEVICES.indexOf(s["device.type"]) : 3) };
const depth = { id: "depth", levels: ["<2", "[2,4)", ">=4", "(absent)"],
  level: (s) => (s["session.page_views"] === undefined ? 3 : (s["session.page_views"] >= 2) + (s["session.page_views"] >= 4)) };

function model(id, features, z, extra = {}) {
  const m = { id, goal: "purchase", spec: `s-${id}`, fit: `f-${id}`, uplift: null, features, zOf: (lv, arm) => z(lv, arm), calibrationTag: 0, ...extra };
  // the score as runtime/score.js's Model.scoreOf computes it without calibration: an uplift model's is the arms' difference
  m.scoreOf ??= (lv) => (m.uplift ? sigmoid(z(lv, 0)) - sigmoid(z(lv, 1)) : sigmoid(z(lv, 0)));
  return m;
}
// depth level 0, 1, 2 -> log-odds -2, -1, 0: buckets named "-2.000", "-1.000", "0.000"
const INTENT = model("intent", [device, depth], (lv) => -2 + lv[1]);
const B = (z) => SCORE_BUCKETS.first + (z - SCORE_BUCKETS.low) * SCORE_BUCKETS.per_unit; // the stored bucket of an exact z
// an uplift model over the starter-kit experiment (index 0 in the bundle) and one over the welcome offer vs the holdout
const KIT = model("kit", [depth], () => 0.3, { uplift: { experiment: 0, treatment: "bundle-discount", control: "free-shipping" } });
const WELCOME = model("welcome", [depth], (lv, arm) => -0.5 - arm, { uplift: { slot: "offer", rule: "welcome-offer" } });

/** The prepared bundle `p` with `models` (and, optionally, other allocation periods). */
function withModels(p, models, periods = null) {
  const q = Object.create(p);
  q.models = models;
  // counting reads the decision's own signal values (Outcome.signals: by signal index, as conditions read them)
  const named = (values) => {
    assert.ok(Array.isArray(values) && values.length === p.signalNames.length);
    return Object.fromEntries(p.signalNames.map((n, i) => [n, typeof values[i] === "bigint" ? Number(values[i]) : values[i]]));
  };
  q.levels = (values) => {
    const signals = named(values);
    return models.map((m) => Uint8Array.from(m.features, (f) => f.level(signals)));
  };
  q.ruleHolds = (slot, rule, values) => {
    const s = named(values);
    return slot === "offer" && rule === "welcome-offer" && s["session.visit_count"] === 1 && s["session.page_views"] >= 3;
  };
  q.decideOptions = [];
  q.decide = function (signals, slots, options) {
    this.decideOptions.push(options);
    return p.decide.call(this, signals, slots, options);
  };
  if (periods) q.periods = periods;
  return q;
}

async function fleetOf(models, periods = null) {
  const worker = new StrataWorker(runtime, ENV);
  const p = await worker.bundles.get(ctx);
  const q = withModels(p, models, periods);
  worker.bundles.current = q;
  worker.bundles.get = async () => q;
  return { worker, p, q, codec: new CookieCodec(await importCookieKeys(KEYS), "strata_session") };
}

const base = await fleetOf([]);
const P = base.p;
const inHoldout = (sid) => runtime.bucket(P.holdoutSeed, sid) < P.holdoutBp;
const starter = P.experiments.find((e) => e.id === "starter-kit");
/** Session ids, not in the holdout (or in it), and in the variant `variant` of starter-kit when given. */
function sids(n, { holdout = false, variant = null, experiment = starter } = {}) {
  const out = [];
  for (let i = 0; out.length < n; i++) {
    const sid = `visitor-${i}`;
    if (inHoldout(sid) !== holdout) continue;
    if (variant !== null && experiment.variants[experiment.pick(sid)]?.[1] !== variant) continue;
    out.push(sid);
  }
  return out;
}

class Visitor {
  constructor(fleet, sid, headers = {}) {
    Object.assign(this, { fleet, headers, cookie: null, sid });
  }

  async start() {
    this.cookie = await this.fleet.codec.encode(new Session(this.sid));
    return this;
  }

  async request(path, body) {
    const headers = { "content-type": "application/json", ...this.headers };
    if (this.cookie) headers.cookie = `strata_session=${this.cookie}`;
    const r = await this.fleet.worker.fetch(new Request(`https://shop.example${path}`, { method: "POST", body: JSON.stringify(body), headers }), ctx);
    assert.ok([200, 202].includes(r.status), `${path}: ${r.status} ${await r.clone().text()}`);
    const set = r.headers.get("set-cookie");
    if (set && set.startsWith("strata_session=s1.")) this.cookie = set.split(";")[0].slice("strata_session=".length);
    return r.json();
  }

  decide(signals = {}, url = "/") {
    return this.request("/v1/decide", { page: { url }, signals });
  }

  convert(goal = "purchase", value = 10) {
    return this.request("/v1/events", { goal, value });
  }

  async session() {
    return this.fleet.codec.decode(this.cookie);
  }

  /** End the visit: the next request comes after the visit timeout. */
  async leave() {
    const s = await this.session();
    s.lastSeen -= 3600;
    this.cookie = await this.fleet.codec.encode(s);
  }
}

/** model/spec/arm/feature/level -> [entered, left, converted] of the worker's snapshot. */
function modelRows(fleet) {
  const out = {};
  for (const r of fleet.worker.measure.snapshot(fleet.q).models) out[[r.model, r.spec, r.arm, r.feature, r.level].join("/")] = [r.entered, r.left, r.converted];
  return out;
}

function cohortRows(fleet) {
  const out = {};
  for (const r of fleet.worker.measure.snapshot(fleet.q).cohorts) out[[r.experiment, r.variant, r.period, r.event, r.goal].join("/")] = [r.count, r.value];
  return out;
}

// ------------------------------------------------------------------ score buckets
test("models_bucket: log-odds buckets named by their lower bound, the ends clamped; a legacy index has no name", () => {
  const { low, per_unit: perUnit, buckets: count, first, legacy } = SCORE_BUCKETS;
  assert.deepEqual([-100, low, -2.3, 0, 7.9, 100].map((z) => bucketName(scoreBucket(z))), ["-8.000", "-8.000", "-2.375", "0.000", "7.875", "7.875"]);
  assert.ok(legacy <= first);
  for (let i = 0; i < legacy; i++) assert.equal(bucketName(i), null);
  assert.equal(bucketName(first + count), null);
  const r = rng(11);
  for (let k = 0; k < 2000; k++) { // generated log-odds: the bucket's name is at most z, the next bucket's above it
    const z = (r() * 2 - 1) * (k % 2 ? 12 : 3000);
    const i = scoreBucket(z);
    assert.ok(i >= first && i < first + count);
    const lo = Number(bucketName(i));
    if (z >= low && z < low + count / perUnit) assert.ok(lo - 1e-12 <= z && z < lo + 1 / perUnit, `${z} in ${lo}`);
    else assert.equal(i, z < low ? first : first + count - 1);
  }
});

// ------------------------------------------------------------------ counting
test("models_count: a visit enters, moves between levels, converts once and is frozen; a new visit enters again", async () => {
  const fleet = await fleetOf([INTENT]);
  const v = await new Visitor(fleet, sids(1)[0], { "user-agent": "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0" }).start();
  await v.decide(); // page view 1: depth <2
  assert.deepEqual(modelRows(fleet), {
    "intent/s-intent//*/*": [1, 0, 0], "intent/s-intent//device/desktop": [1, 0, 0], "intent/s-intent//depth/<2": [1, 0, 0],
    [`intent/f-intent//${SCORE}/-2.000`]: [1, 0, 0],
  });
  await v.decide(); // 2: [2,4)
  await v.decide(); // 3: unchanged
  await v.decide(); // 4: >=4
  assert.deepEqual(modelRows(fleet), {
    "intent/s-intent//*/*": [1, 0, 0], "intent/s-intent//device/desktop": [1, 0, 0],
    "intent/s-intent//depth/<2": [1, 1, 0], "intent/s-intent//depth/[2,4)": [1, 1, 0], "intent/s-intent//depth/>=4": [1, 0, 0],
    [`intent/f-intent//${SCORE}/-2.000`]: [1, 1, 0], [`intent/f-intent//${SCORE}/-1.000`]: [1, 1, 0], [`intent/f-intent//${SCORE}/0.000`]: [1, 0, 0],
  });
  const entry = (await v.session()).models.intent;
  assert.deepEqual([entry[0], entry[1], [...entry[2]], entry[3], entry[4], entry[5]], ["s-intent", "f-intent", [1, 2], B(0), false, ""]);
  await v.convert("newsletter_signup"); // another goal: not this model's
  await v.convert();
  await v.convert(); // the visit converted already
  await v.decide(); // frozen: nothing moves
  const after = modelRows(fleet);
  assert.deepEqual(after["intent/s-intent//*/*"], [1, 0, 1]);
  assert.deepEqual(after["intent/s-intent//depth/>=4"], [1, 0, 1]);
  assert.deepEqual(after["intent/s-intent//depth/<2"], [1, 1, 0]);
  assert.deepEqual(after[`intent/f-intent//${SCORE}/0.000`], [1, 0, 1]);
  assert.equal((await v.session()).models.intent[4], true);
  await v.leave(); // a new visit: the entry is emptied, and the visit enters again
  await v.decide();
  assert.deepEqual((await v.session()).models.intent[4], false);
  assert.deepEqual(modelRows(fleet)["intent/s-intent//*/*"], [2, 0, 1]);
  assert.deepEqual(modelRows(fleet)["intent/s-intent//depth/<2"], [2, 1, 0]);
});

test("models_count: nothing is counted and no cookie is written without consent (GPC, DNT, consent cookie)", async () => {
  const fleet = await fleetOf([INTENT, KIT, WELCOME]);
  const r = rng(5);
  const refusals = [{ "sec-gpc": "1" }, { dnt: "1" }, { cookie: "strata_consent=no" }, { cookie: "strata_consent=rejected" }];
  for (let i = 0; i < 60; i++) {
    const headers = refusals[Math.floor(r() * refusals.length)];
    const path = r() < 0.7 ? "/v1/decide" : "/v1/events";
    const body = path === "/v1/decide" ? { page: { url: "/tents.html" }, signals: r() < 0.5 ? CART : {} } : { goal: "purchase", value: 3 };
    const res = await fleet.worker.fetch(new Request(`https://shop.example${path}`, { method: "POST", body: JSON.stringify(body),
      headers: { "content-type": "application/json", ...headers } }), ctx);
    assert.ok([200, 202].includes(res.status));
    assert.equal(res.headers.get("set-cookie"), null);
  }
  const snap = fleet.worker.measure.snapshot(fleet.q);
  assert.deepEqual(snap.models, []);
  assert.deepEqual(snap.cohorts, []);
  assert.ok(snap.exposures.some((e) => e.population === "no_consent")); // the requests were served and counted as such
  assert.deepEqual(Object.keys(snap.model_specs), ["intent", "kit", "welcome"]);
});

test("models_count: generated journeys keep every feature's and the score's net visits equal to the visits'", async () => {
  const fleet = await fleetOf([INTENT, KIT]);
  const r = rng(23);
  const agents = ["Mozilla/5.0 (iPhone; CPU iPhone OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 Mobile/15E148 Safari/604.1",
    "curl/8.5.0", "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"];
  let visits = 0;
  for (const [n, sid] of sids(25).entries()) {
    const v = await new Visitor(fleet, sid, { "user-agent": agents[n % agents.length] }).start();
    visits += 1;
    for (let k = 0; k < 12; k++) {
      const x = r();
      if (x < 0.55) await v.decide(r() < 0.4 ? CART : {});
      else if (x < 0.75) await v.convert(r() < 0.7 ? "purchase" : "add_to_cart", Math.floor(r() * 50));
      else if (x < 0.85) {
        await v.leave();
        visits += 1;
      } else v.headers["user-agent"] = agents[Math.floor(r() * agents.length)]; // the device changes mid-visit
    }
  }
  const rows = fleet.worker.measure.snapshot(fleet.q).models;
  const groups = new Map();
  for (const row of rows) {
    const key = `${row.model}|${row.arm}`;
    if (!groups.has(key)) groups.set(key, new Map());
    const g = groups.get(key);
    const f = row.feature;
    const [e, l, c] = g.get(f) ?? [0, 0, 0];
    g.set(f, [e + row.entered, l + row.left, c + row.converted]);
    assert.ok(row.entered >= row.left && row.entered >= row.converted, JSON.stringify(row));
  }
  assert.ok(groups.has("intent|") && groups.has("kit|treatment") && groups.has("kit|control"), [...groups.keys()].join(" "));
  for (const [key, g] of groups) {
    const [entered, left, converted] = g.get("*");
    assert.equal(left, 0, key); // a visit's row is entered once per visit and spec, never left (the arm does not change here)
    assert.ok(entered <= visits && converted <= entered, key);
    for (const [f, [e, l, c]] of g) assert.deepEqual([e - l, c], [entered, converted], `${key} ${f}`);
  }
});

test("models_count: an uplift model counts a visit under its experiment arm, or the rule against the holdout", async () => {
  const fleet = await fleetOf([KIT, WELCOME]);
  for (const [variant, arm] of [["bundle-discount", "treatment"], ["free-shipping", "control"]]) {
    const v = await new Visitor(fleet, sids(1, { variant })[0]).start();
    await v.decide(); // not exposed to the experiment yet: not counted
    assert.equal((await v.session()).models.kit, undefined);
    await v.decide(CART, "/tents.html");
    assert.equal((await v.session()).models.kit[5], arm);
    await v.decide(); // no cart now: the visit stays counted under its arm
    await v.convert();
    assert.deepEqual(modelRows(fleet)[`kit/s-kit/${arm}/*/*`], [1, 0, 1]);
    assert.deepEqual(modelRows(fleet)[`kit/f-kit/${arm}/${UPLIFT}/0.00`], [1, 0, 1]); // its uplift score 0, in either arm
    assert.equal((await v.session()).models.kit[6], upliftBucket(0));
  }
  // the welcome offer shows on a first visit's third page view: a personalised visit is treatment,
  // a holdout visit whose signals match the rule is control
  for (const [holdout, arm] of [[false, "treatment"], [true, "control"]]) {
    const fleet = await fleetOf([KIT, WELCOME]);
    const v = await new Visitor(fleet, sids(1, { holdout })[0]).start();
    await v.decide();
    await v.decide();
    assert.equal((await v.session()).models.welcome, undefined);
    const third = await v.decide();
    assert.equal(third.slots.offer.reason, holdout ? "holdout" : "rule");
    assert.equal((await v.session()).models.welcome[5], arm);
    assert.deepEqual(modelRows(fleet)[`welcome/s-welcome/${arm}/*/*`], [1, 0, 0]);
    assert.deepEqual(modelRows(fleet)[`welcome/f-welcome/${arm}/${SCORE}/${arm === "control" ? "-1.500" : "-0.500"}`], [1, 0, 0]);
    const u = upliftBucketName(upliftBucket(sigmoid(-0.5) - sigmoid(-1.5))); // the same uplift row in both arms
    assert.deepEqual(modelRows(fleet)[`welcome/f-welcome/${arm}/${UPLIFT}/${u}`], [1, 0, 0]);
  }
});

test("models_count: a recalibration or a new fit moves the visit's uplift row; a six-field entry enters it without leaving", async () => {
  const fleet = await fleetOf([WELCOME]);
  const v = await new Visitor(fleet, sids(1)[0]).start();
  for (let k = 0; k < 3; k++) await v.decide(); // the third page view shows the welcome offer: treatment
  const u = upliftBucketName(upliftBucket(sigmoid(-0.5) - sigmoid(-1.5)));
  fleet.q.models = [{ ...WELCOME, calibrationTag: 0x2930 }]; // a new bundle: the same fit, calibrated
  await v.decide();
  fleet.q.models = [{ ...WELCOME, calibrationTag: 0x2930, fit: "f-new" }];
  await v.decide();
  const rows = Object.fromEntries(Object.entries(modelRows(fleet)).filter(([key]) => key.includes(`/${UPLIFT}/`)));
  assert.deepEqual(rows, { [`welcome/f-welcome/treatment/${UPLIFT}/${u}`]: [1, 1, 0], [`welcome/f-welcome~2930/treatment/${UPLIFT}/${u}`]: [1, 1, 0],
    [`welcome/f-new~2930/treatment/${UPLIFT}/${u}`]: [1, 0, 0] });
  const s = await v.session();
  assert.equal(s.models.welcome[6], 0x2930 * 128 + upliftBucket(sigmoid(-0.5) - sigmoid(-1.5)));
  s.models.welcome.length = 6; // as a cookie written before the uplift rows holds it
  v.cookie = await fleet.codec.encode(s);
  fleet.q.models = [{ ...WELCOME, calibrationTag: 0, fit: "f-new" }];
  const before = modelRows(fleet);
  await v.decide();
  const moved = Object.entries(modelRows(fleet)).filter(([key, n]) => JSON.stringify(n) !== JSON.stringify(before[key] ?? [0, 0, 0]));
  assert.deepEqual(moved, [[`welcome/f-new/treatment/${UPLIFT}/${u}`, [1, 0, 0]]]); // entered, nothing left
});

test("models_count: a legacy 0.05-wide bucket of an old cookie is left nowhere, enters its log-odds bucket once, converts no score row", async () => {
  const r = rng(41);
  for (let k = 0; k < 12; k++) { // generated old entries: any legacy index, converting before or after the next decision
    const fleet = await fleetOf([INTENT]);
    const v = await new Visitor(fleet, sids(1)[0], { "user-agent": "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0" }).start();
    await v.decide(); // page 1: depth <2, an entry in the log-odds bucket of -2
    const s = await v.session();
    const legacy = Math.floor(r() * SCORE_BUCKETS.legacy);
    s.models.intent[3] = legacy; // as a cookie written before the log-odds buckets holds it
    v.cookie = await fleet.codec.encode(s);
    const before = modelRows(fleet);
    const convertFirst = k % 2 === 0;
    if (convertFirst) await v.convert();
    else await v.decide(); // page 2: depth [2,4)
    const after = modelRows(fleet);
    const moved = Object.fromEntries(Object.keys(after).filter((key) => key.includes(`/${SCORE}/`))
      .map((key) => [key, after[key].map((x, i) => x - (before[key] ?? [0, 0, 0])[i])]).filter(([, d]) => d.some((x) => x !== 0)));
    if (convertFirst) {
      assert.deepEqual(moved, {}); // no score row converts: the legacy bucket was counted under the old naming
      assert.deepEqual(after["intent/s-intent//*/*"], [1, 0, 1]);
    } else {
      assert.deepEqual(moved, { [`intent/f-intent//${SCORE}/-1.000`]: [1, 0, 0] }); // entered once, nothing left
      assert.equal((await v.session()).models.intent[3], B(-1));
    }
    for (const row of Object.values(after)) assert.ok(row[0] >= row[1]); // never more left than entered
  }
});

test("models_count: an entry of other features is replaced and counted as a new visit; at most 4 models are counted", async () => {
  const six = ["a", "b", "c", "d", "e", "f"].map((id) => model(id, [depth], () => 0.5));
  const fleet = await fleetOf(six);
  const v = await new Visitor(fleet, sids(1)[0]).start();
  await v.decide();
  assert.deepEqual(Object.keys((await v.session()).models), ["a", "b", "c", "d"]);
  fleet.q.models = [{ ...six[1], spec: "s-b2" }, six[0]]; // a new bundle: b's features changed, c and d gone
  await v.decide();
  assert.deepEqual(Object.keys((await v.session()).models), ["a", "b"]);
  const rows = modelRows(fleet);
  assert.deepEqual(rows["b/s-b//*/*"], [1, 0, 0]);
  assert.deepEqual(rows["b/s-b2//*/*"], [1, 0, 0]);
  assert.deepEqual(rows["a/s-a//*/*"], [1, 0, 0]);
  assert.deepEqual(rows["a/s-a//depth/[2,4)"], [1, 0, 0]);
  assert.equal(rows["e/s-e//*/*"], undefined);
});

// ------------------------------------------------------------------ cohorts and sticky assignments
test("cohorts: assigned once per session, exposed once per visit, converted per goal with its value, in the period assigned", async () => {
  const fleet = await fleetOf([]);
  // new weights later: the variant steps become 7300/2700 (a visitor of free-shipping under both, so
  // that the test does not depend on the runtime keeping recorded variants)
  const reweighted = Object.assign(Object.create(starter), { variants: [[7300, "bundle-discount", null], [10000, "free-shipping", null]] });
  const [sid] = sids(1, { variant: "free-shipping", experiment: reweighted });
  const v = await new Visitor(fleet, sid).start();
  await v.decide(CART, "/tents.html");
  await v.decide(CART, "/tents.html");
  await v.convert("add_to_cart", 12.5);
  await v.convert("add_to_cart", 99); // once per visit
  await v.convert("newsletter_signup", 0); // (not a purchase: the audience is visitors who have not bought)
  assert.deepEqual((await v.session()).exposures["starter-kit"], ["free-shipping", 1, "5000/5000"]);
  await v.leave();
  await v.decide(CART, "/tents.html");
  assert.deepEqual(cohortRows(fleet), {
    "starter-kit/free-shipping/5000/5000/assigned/": [1, 0], "starter-kit/free-shipping/5000/5000/exposed/": [2, 0],
    "starter-kit/free-shipping/5000/5000/converted/add_to_cart": [1, 12.5], "starter-kit/free-shipping/5000/5000/converted/newsletter_signup": [1, 0],
  });
  // the decide of the second visit carried the recorded variant (sticky across reweighting)
  assert.deepEqual(fleet.q.decideOptions.at(-1).assignments, { "starter-kit": "free-shipping" });
  // new weights: the period of new assignments changes; this visitor stays in its cohort
  const later = await fleetOf([], { ...P.periods, "starter-kit": "7300/2700" });
  const again = new Visitor(later, sid);
  again.cookie = v.cookie;
  await again.leave();
  await again.decide(CART, "/tents.html");
  const fresh = await new Visitor(later, sids(2, { variant: "bundle-discount" })[1]).start();
  await fresh.decide(CART, "/tents.html");
  assert.deepEqual(cohortRows(later), {
    "starter-kit/free-shipping/5000/5000/exposed/": [1, 0],
    "starter-kit/bundle-discount/7300/2700/assigned/": [1, 0], "starter-kit/bundle-discount/7300/2700/exposed/": [1, 0],
  });
});

test("metrics: /metrics exports the model and cohort counters; /v1/stats has models, model_specs and cohorts", async () => {
  const fleet = await fleetOf([INTENT, KIT]);
  const v = await new Visitor(fleet, sids(1)[0]).start();
  await v.decide(CART, "/tents.html");
  await v.convert("purchase", 4);
  const auth = { authorization: "Bearer tok" };
  const text = await (await fleet.worker.fetch(new Request("https://shop.example/metrics", { headers: auth }), ctx)).text();
  assert.match(text, /^strata_model_visits_total\{model="intent",spec="s-intent",arm="",feature="\*",level="\*",event="entered"\} 1$/m);
  assert.match(text, /^strata_model_visits_total\{model="intent",spec="s-intent",arm="",feature="\*",level="\*",event="converted"\} 1$/m);
  assert.match(text, /^strata_model_visits_total\{model="intent",spec="f-intent",arm="",feature="@logit",level="-2.000",event="entered"\} 1$/m);
  assert.match(text, /^strata_experiment_cohort_total\{experiment="starter-kit",variant="[a-z-]+",period="5000\/5000",event="assigned",goal=""\} 1$/m);
  assert.match(text, /^strata_experiment_cohort_total\{experiment="starter-kit",variant="[a-z-]+",period="5000\/5000",event="converted",goal="purchase"\} 1$/m);
  assert.match(text, /^strata_experiment_cohort_value_total\{experiment="starter-kit",variant="[a-z-]+",period="5000\/5000",goal="purchase"\} 4$/m);
  const snap = await (await fleet.worker.fetch(new Request("https://shop.example/v1/stats", { headers: auth }), ctx)).json();
  assert.deepEqual(snap.model_specs.kit, { spec: "s-kit", fit: "f-kit", goal: "purchase",
    uplift: { experiment: "starter-kit", treatment: "bundle-discount", control: "free-shipping" }, features: { depth: ["<2", "[2,4)", ">=4", "(absent)"] } });
  assert.deepEqual(snap.model_specs.intent.uplift, null);
  assert.ok(snap.models.some((r) => r.model === "kit" && r.feature === "*" && r.converted === 1));
  assert.ok(snap.cohorts.some((c) => c.event === "exposed" && c.count === 1 && c.period === "5000/5000"));
  assert.equal(snap.experiments["starter-kit"].period, "5000/5000"); // the period served now, as the Python server's snapshot
});
