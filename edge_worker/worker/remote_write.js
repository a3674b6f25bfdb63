// Direct mode of fleet counting (docs/deployment.md "Fleet counting"): every isolate pushes its
// metric families (metrics.js) to Prometheus — or anything that speaks its remote-write protocol
// 1.0: Mimir, Cortex, Thanos, VictoriaMetrics, the clouds' managed Prometheus — at
// STRATA_REMOTE_WRITE, in ctx.waitUntil after a response, at most every STRATA_PUSH_INTERVAL
// seconds. Counters are cumulative and each isolate writes only its own series (label
// instance = its random id, job = "strata-worker"), so a total is each instance's last value,
// summed (`strata report --prometheus`).
//
// A failing endpoint never delays a response: a push runs after the response is handed back, one
// at a time. What could not be delivered stays in memory (a bounded queue of whole pushes) and goes
// with the next attempt, after a backoff that doubles up to MAX_BACKOFF; when the queue holds more
// than `maxSamples` samples the oldest pushes are dropped and counted in
// strata_remote_write_dropped_samples_total{reason="bound"} (cumulative counters lose only the
// points in between, not counts: the newest push carries every total). An endpoint refusing a push
// for good (a 4xx other than 408/429) drops it, counted with reason="refused".
//
// A push carries only the series whose value changed since this isolate last queued them, and every
// series at least every STRATA_PUSH_REFRESH seconds (default 240): a total is each series' last
// value in the window, so an unchanged series need not be written again, and the refresh keeps it
// inside Prometheus' 5-minute lookback (dashboards reading instant vectors see it) and hosted
// Prometheus' active-series window. A query window shorter than the refresh can miss a live
// isolate's unchanged series; the offline tools' windows are days. Each series' labels are encoded
// once per isolate (the label set of a row never changes), so a push costs the changed rows.
// It reads only those rows too: `collect(false)` gives the measurement's rows changed since the
// last collect (measure.js's Changes), and the series due for the refresh or left over by a dropped
// push are written with the value last queued (a series whose value changed since is a changed row).
//
// The wire format is protobuf prometheus.WriteRequest (prompb/remote.proto and types.proto), encoded
// here (five message types, three wire types), block-compressed with snappy (snappy.js).

import { compress as snappyBlock } from "./snappy.js";

export const HEADERS = {
  "content-encoding": "snappy",
  "content-type": "application/x-protobuf",
  "x-prometheus-remote-write-version": "0.1.0",
  "user-agent": "strata-edge-worker",
};
/** The `job` label of every series an isolate pushes. */
export const JOB = "strata-worker";
/** Longest wait between attempts while the endpoint fails (ms). */
export const MAX_BACKOFF = 300_000;
/** How long one push may take before it counts as failed (ms). */
export const PUSH_TIMEOUT = 10_000;
/** Default seconds after which an unchanged series is written again (STRATA_PUSH_REFRESH). */
export const PUSH_REFRESH = 240;
/** Series whose encoded labels an isolate keeps; past it the cache starts again (every series is then re-sent once). */
const SERIES_CACHE = 100_000;

// ------------------------------------------------------------------ protobuf
const utf8 = new TextEncoder();

/** A growable byte buffer with the protobuf primitives WriteRequest needs. */
class Writer {
  constructor(size = 1024) {
    this.buf = new Uint8Array(size);
    this.len = 0;
  }

  reserve(n) {
    if (this.len + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.len + n) size *= 2;
    const b = new Uint8Array(size);
    b.set(this.buf.subarray(0, this.len));
    this.buf = b;
  }

  /** A non-negative integer up to 2^53 as a base-128 varint. */
  varint(n) {
    this.reserve(10);
    while (n >= 128) {
      this.buf[this.len++] = (n % 128) | 128;
      n = Math.floor(n / 128);
    }
    this.buf[this.len++] = n;
  }

  bytes(field, b) {
    this.varint((field << 3) | 2);
    this.varint(b.length);
    this.reserve(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
  }

  double(field, v) {
    this.varint((field << 3) | 1);
    this.reserve(8);
    SCRATCH.setFloat64(0, v, true);
    this.buf.set(SCRATCH_BYTES, this.len);
    this.len += 8;
  }

  /** A string field of utf8Of's result (the ASCII string itself, or bytes). */
  text(field, t) {
    if (typeof t !== "string") return this.bytes(field, t);
    this.varint((field << 3) | 2);
    this.varint(t.length);
    this.reserve(t.length);
    for (let i = 0; i < t.length; i++) this.buf[this.len++] = t.charCodeAt(i);
  }

  int(field, n) {
    this.varint(field << 3);
    this.varint(n);
  }

  done() {
    return this.buf.subarray(0, this.len);
  }
}

const SCRATCH_BYTES = new Uint8Array(8);
const SCRATCH = new DataView(SCRATCH_BYTES.buffer);

function varintSize(n) {
  let size = 1;
  for (; n >= 128; size++) n = Math.floor(n / 128);
  return size;
}

/** `s` as UTF-8: the string itself when it is ASCII (label names and most values: one byte per
 * character, written without an intermediate buffer), else its bytes. Either way `.length` is the
 * byte length. */
function utf8Of(s) {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 127) return utf8.encode(s);
  return s;
}

const scratch = new Writer(4096);
let slab = new Uint8Array(0); // encoded labels live in slabs of 64 KiB: one allocation per slab, not per series
let slabUsed = 0;

/** A TimeSeries' labels field (repeated Label labels = 1; Label {string name = 1; string value = 2})
 * of [[name, value], ...], sorted by name: made once per series of an isolate. */
function encodeLabels(pairs) {
  const w = scratch;
  w.len = 0;
  for (const [name, value] of pairs) {
    const n = utf8Of(name);
    const v = utf8Of(value);
    w.varint((1 << 3) | 2);
    w.varint(2 + varintSize(n.length) + n.length + varintSize(v.length) + v.length);
    w.text(1, n);
    w.text(2, v);
  }
  const len = w.len;
  if (len > 4096) return w.buf.slice(0, len);
  if (slabUsed + len > slab.length) {
    slab = new Uint8Array(65536);
    slabUsed = 0;
  }
  const out = slab.subarray(slabUsed, slabUsed + len);
  for (let i = 0; i < len; i++) out[i] = w.buf[i];
  slabUsed += len;
  return out;
}

/** Size of Sample {double value = 1; int64 timestamp = 2 (ms since the epoch)}. */
const sampleSize = (ms) => 9 + 1 + varintSize(ms);

/** MetricMetadata.MetricType of a family's type. */
const METRIC_TYPE = { counter: 1, gauge: 2 };

/** The protobuf bytes of a WriteRequest: `series` is [{labels: [[name, value], ...], samples:
 * [[value, ms], ...]}], labels sorted by name (with __name__), samples in time order; `metadata`
 * [{name, type: "counter" | "gauge", help}] per family. One buffer, each message's length
 * computed before it is written. */
export function encodeWriteRequest(series, metadata = []) {
  const w = new Writer(4096);
  for (const s of series) {
    // TimeSeries {repeated Label labels = 1; repeated Sample samples = 2}, as WriteRequest's timeseries = 1
    const ls = s.encoded ?? encodeLabels(s.labels);
    let size = ls.length;
    for (const [, ms] of s.samples) size += 1 + 1 + sampleSize(ms); // a Sample is under 128 bytes
    w.varint((1 << 3) | 2);
    w.varint(size);
    w.reserve(ls.length);
    w.buf.set(ls, w.len);
    w.len += ls.length;
    for (const [v, ms] of s.samples) {
      w.varint((2 << 3) | 2);
      w.varint(sampleSize(ms));
      w.double(1, v);
      w.int(2, ms);
    }
  }
  for (const m of metadata) {
    const md = new Writer(m.name.length + m.help.length * 3 + 16); // MetricMetadata {MetricType type = 1; string metric_family_name = 2; string help = 4}
    md.int(1, METRIC_TYPE[m.type] ?? 0);
    md.bytes(2, utf8.encode(m.name));
    md.bytes(4, utf8.encode(m.help));
    w.bytes(3, md.done()); // WriteRequest {repeated MetricMetadata metadata = 3}
  }
  return w.done();
}

/** encodeWriteRequest's bytes for series of one sample each, all at `ms` (a push that went at its
 * first attempt): `rows` [[{encoded: the labels field}, value]]. One buffer of the exact size,
 * written byte by byte: the sample's timestamp bytes are the same in every series. */
export function encodeOneSampleEach(rows, ms, metadata = []) {
  const stamp = new Writer(12);
  stamp.int(2, ms);
  const ts = stamp.done(); // Sample's timestamp field
  const sample = 9 + ts.length; // Sample: the value field (tag + 8 bytes) and the timestamp field
  const meta = encodeWriteRequest([], metadata);
  let size = meta.length;
  for (const [s] of rows) {
    const n = s.encoded.length + 2 + sample;
    size += 1 + varintSize(n) + n;
  }
  const buf = new Uint8Array(size);
  let o = 0;
  for (const [s, v] of rows) {
    const ls = s.encoded;
    let n = ls.length + 2 + sample;
    buf[o++] = (1 << 3) | 2; // WriteRequest.timeseries
    for (; n >= 128; n = Math.floor(n / 128)) buf[o++] = (n % 128) | 128;
    buf[o++] = n;
    buf.set(ls, o);
    o += ls.length;
    buf[o++] = (2 << 3) | 2; // TimeSeries.samples
    buf[o++] = sample;
    buf[o++] = (1 << 3) | 1; // Sample.value
    SCRATCH.setFloat64(0, v, true);
    for (let i = 0; i < 8; i++) buf[o++] = SCRATCH_BYTES[i];
    for (let i = 0; i < ts.length; i++) buf[o++] = ts[i];
  }
  buf.set(meta, o);
  return buf;
}

/** Snappy block compression (what remote write's Content-Encoding: snappy means, not the framed format). */
export function compress(bytes) {
  return snappyBlock(bytes);
}

// ------------------------------------------------------------------ the pusher
/** The label pairs of one row of a family, sorted by name as remote write requires. */
function labelsOf(name, labels, instance) {
  const pairs = Object.entries(labels).map(([k, v]) => [k, String(v)]);
  pairs.push(["__name__", name], ["instance", instance], ["job", JOB]);
  return pairs.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
}

/** The Authorization header value for the configured credentials, or null. */
export function authorization(config) {
  if (config.remoteWriteToken) return `Bearer ${config.remoteWriteToken}`;
  if (config.remoteWriteUser) {
    const raw = utf8.encode(`${config.remoteWriteUser}:${config.remoteWritePassword ?? ""}`);
    return `Basic ${btoa(String.fromCharCode(...raw))}`;
  }
  return null;
}

export class RemoteWrite {
  /** `config`: config.js's remoteWrite* and pushInterval fields; `instance`: this isolate's id. */
  constructor(config, instance) {
    this.url = config.remoteWrite;
    this.auth = authorization(config);
    this.interval = config.pushInterval * 1000;
    this.maxSamples = config.pushMaxSamples;
    this.instance = instance;
    this.refresh = (config.pushRefresh ?? PUSH_REFRESH) * 1000;
    this.series = new Map(); // row key -> {encoded: its labels, last: the value last queued, at: when (ms), owed: its push was dropped}
    this.byLabels = new Map(); // family -> WeakMap(labels object -> series): rows whose label object is kept (metrics.js's changedRows) skip the key
    this.full = true; // the next collect reads every row (the first, and after the series cache started again)
    this.written = []; // what each push queued, for the refresh: {ms, rows}, oldest first, the last `refresh` ms
    this.owed = []; // series of dropped pushes, queued again at the next push
    this.queue = []; // pushes not yet delivered: {ms, rows: [[series, value]]}, oldest first
    this.queued = 0; // samples in the queue
    this.next = 0; // earliest time (ms) of the next attempt
    this.failures = 0; // consecutive failed attempts
    this.busy = false;
    this.metadata = []; // the families' TYPE and HELP, sent with every push
    this.pushes = new Map(); // result (ok | retry | refused) -> count
    this.dropped = new Map(); // reason (bound | refused) -> samples
  }

  /** The pusher's own families, pushed and scraped with the others. */
  families() {
    return [
      { name: "strata_remote_write_pushes_total", help: "Remote-write attempts by result (ok, retry: kept for the next attempt, refused: dropped)",
        type: "counter", rows: [...this.pushes].map(([result, n]) => [{ result }, n]) },
      { name: "strata_remote_write_dropped_samples_total", help: "Samples never delivered: oldest pushes dropped at the memory bound, or refused by the endpoint",
        type: "counter", rows: [...this.dropped].map(([reason, n]) => [{ reason }, n]) },
      { name: "strata_remote_write_pending_samples", help: "Samples waiting for the next remote-write attempt", type: "gauge", rows: [[{}, this.queued]] },
    ];
  }

  /** After a response: a promise for ctx.waitUntil when a push is due, else null. `collect(full)`
   * gives the families to push (metrics.js's Metrics.families: with `full` false, at least the rows
   * changed since the last collect; StrataWorker.pushFamilies); it runs after the response is returned. */
  maybePush(collect, now = Date.now()) {
    if (this.busy || now < this.next) return null;
    this.busy = true;
    return (async () => {
      try {
        await null; // the response goes first: the families are collected after fetch returned it
        if (this.series.size > SERIES_CACHE) this.forget();
        const families = collect(this.full);
        this.full = false;
        this.enqueue(families, now);
        if (this.queued === 0) { // nothing changed since the last push: nothing to write
          this.queue = [];
          this.next = now + this.interval;
          return;
        }
        await this.send(now);
      } catch (e) {
        this.full = true; // the changed rows taken may not be queued: the next push reads every row
        console.warn(`strata: remote write to ${this.url} failed: ${e.message}`);
      } finally {
        this.busy = false;
      }
    })();
  }

  /** Start the series cache again (past SERIES_CACHE): every series is written again once. */
  forget() {
    this.series.clear();
    this.byLabels.clear();
    this.written = [];
    this.owed = [];
    this.full = true;
  }

  /** Queue the rows of `families` that changed since they were last queued, the series last queued
   * `refresh` ms or more before `ms` (a row of `families` or not), and those of dropped pushes. */
  enqueue(families, ms) {
    const rows = [];
    const put = (s, v) => {
      s.last = v;
      s.at = ms;
      s.owed = false;
      rows.push([s, v]);
    };
    for (const f of families) {
      let known = this.byLabels.get(f.name);
      if (known === undefined) this.byLabels.set(f.name, (known = new WeakMap()));
      for (const [labels, v] of f.rows) {
        let s = known.get(labels);
        if (s === undefined) {
          let key = f.name;
          for (const k in labels) key += "\u0000" + k + "\u0001" + labels[k];
          s = this.series.get(key);
          if (s === undefined) this.series.set(key, (s = { encoded: encodeLabels(labelsOf(f.name, labels, this.instance)), last: undefined, at: 0, owed: false }));
          known.set(labels, s);
        }
        if (s.last === v && ms - s.at < this.refresh && !s.owed) continue;
        put(s, v);
      }
    }
    for (const s of this.owed) if (s.owed) put(s, s.last); // unchanged since (else written above)
    this.owed = [];
    while (this.written.length > 0 && ms - this.written[0].ms >= this.refresh) {
      const { ms: at, rows: before } = this.written.shift();
      for (const [s] of before) if (s.at === at) put(s, s.last); // not written since: unchanged
    }
    if (rows.length > 0) this.written.push({ ms, rows });
    this.metadata = families.map(({ name, type, help }) => ({ name, type, help }));
    this.queue.push({ ms, rows });
    this.queued += rows.length;
    while (this.queue.length > 1 && this.queued > this.maxSamples) this.drop(this.queue.shift(), "bound");
  }

  /** Count a push's samples as never delivered; its series are queued again at the next push. */
  drop(push, reason) {
    this.queued -= push.rows.length;
    this.dropped.set(reason, (this.dropped.get(reason) ?? 0) + push.rows.length);
    for (const [s] of push.rows) {
      if (!s.owed) this.owed.push(s);
      s.owed = true;
    }
  }

  /** The WriteRequest of everything queued: one TimeSeries per label set, its samples in time order. */
  body() {
    if (this.queue.length === 1) return compress(encodeOneSampleEach(this.queue[0].rows, this.queue[0].ms, this.metadata));
    const series = new Map();
    for (const { ms, rows } of this.queue) {
      for (const [s, v] of rows) {
        let out = series.get(s);
        if (out === undefined) series.set(s, (out = { encoded: s.encoded, samples: [] }));
        out.samples.push([v, ms]);
      }
    }
    return compress(encodeWriteRequest([...series.values()], this.metadata));
  }

  async send(now) {
    const headers = { ...HEADERS };
    if (this.auth) headers.authorization = this.auth;
    const count = (result) => this.pushes.set(result, (this.pushes.get(result) ?? 0) + 1);
    let status = 0;
    try {
      const r = await fetch(this.url, { method: "POST", headers, body: this.body(), signal: AbortSignal.timeout(PUSH_TIMEOUT) });
      status = r.status;
      await r.body?.cancel();
    } catch (e) {
      console.warn(`strata: remote write to ${this.url} failed (kept for the next attempt): ${e.message}`);
    }
    if (status >= 200 && status < 300) {
      count("ok");
    } else if (status >= 400 && status < 500 && status !== 408 && status !== 429) {
      count("refused"); // will never be accepted: retrying would block every later push
      console.warn(`strata: remote write to ${this.url} refused with ${status}: ${this.queued} samples dropped (check the URL and credentials)`);
      for (const push of this.queue) this.drop(push, "refused");
    } else {
      count("retry");
      this.failures += 1;
      this.next = now + Math.min(this.interval * 2 ** this.failures, MAX_BACKOFF);
      return false;
    }
    this.queue = [];
    this.queued = 0;
    this.failures = 0;
    this.next = now + this.interval;
    return true;
  }
}
