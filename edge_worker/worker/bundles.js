// The bundle of one isolate: fetched from an HTTPS origin (conditional requests) or read from a
// KV-like binding, verified and prepared once, and refreshed in the background (ctx.waitUntil) at
// most every pollInterval seconds: a request never waits for a refresh, only the very first one of
// an isolate waits for the first load. A bundle that fails any step (download, signature,
// validity, rollback) is counted and reported on /readyz, and the last good one keeps serving, as
// edge_server/bundles.py does.
//
// Downloads are bounded: the body is read as a stream and refused as soon as more than
// MAX_ENVELOPE_BYTES have arrived, counted as the platform delivers them (after it decoded any
// Content-Encoding), so a compression bomb costs at most that much memory; identity is asked for,
// but the count holds whatever the origin sends. A refused body is not fetched again until its
// validator (ETag, or a Last-Modified at least a second older than the response) changes.
//
// Rollback: the rule set and the version floor come from STRATA_BUNDLE_NAME, STRATA_MIN_VERSION and
// the record in the STRATA_STATE namespace (worker/state.js), read before a new bundle is accepted
// and raised after it is, so a fresh isolate refuses what a running one refuses.

import { readBounded as readStream } from "./bounded_read.js";
import { refusal } from "../runtime/errors.js";
import { MAX_ENVELOPE_BYTES } from "../runtime/format.js";
import { StateError, readState, recordState, stateLocation } from "./state.js";

class SourceError extends Error {}

/** The validator of a response: its ETag, else a Last-Modified at least one second older than its
 * Date (RFC 9110 8.8.2.2: only then can a later change not carry the same date); null when none. */
export function validatorOf(headers) {
  const etag = headers.get("etag");
  if (etag) return { etag, lastModified: null };
  const lm = headers.get("last-modified");
  const date = headers.get("date");
  if (lm && date) {
    const l = Date.parse(lm);
    const d = Date.parse(date);
    if (Number.isFinite(l) && Number.isFinite(d) && d - l >= 1000) return { etag: null, lastModified: lm };
  }
  return null;
}

const sameValidator = (a, b) => a !== null && b !== null && a.etag === b.etag && a.lastModified === b.lastModified;

/** The bytes of `stream`, refused (the stream cancelled) as soon as more than `cap` bytes arrive:
 * never more than `cap` plus one chunk is held. `declared`: a Content-Length to refuse up front. */
export async function readBounded(stream, where, cap, declared = null) {
  const tooLarge = `${where}: bundle larger than ${cap} bytes; refused while downloading`;
  if (declared !== null && /^\s*\d+\s*$/.test(declared) && Number(declared) > cap) {
    await stream?.cancel().catch(() => {});
    throw new SourceError(`${tooLarge} (Content-Length: ${declared.trim()})`);
  }
  if (!stream) return new Uint8Array(0);
  return readStream(stream, cap, () => new SourceError(`${tooLarge} (as delivered, after any Content-Encoding was decoded)`));
}

export class BundleSource {
  /** `runtime`: {prepareBundle, importKeys, BundleError}; `config`: configFrom(env); `env`: the bindings. */
  constructor(runtime, config, env) {
    this.runtime = runtime;
    this.config = config;
    this.env = env;
    this.current = null;
    this.keys = null;
    this.validator = null; // of the last body looked at (accepted or refused): not downloaded again
    this.digest = null; // KV: of the last value looked at
    this.where = undefined; // the rollback state's location (worker/state.js), once known
    this.checkedAt = 0; // ms
    this.loading = null; // the refresh in flight
    this.warned = false;
    this.state = { loadedAt: 0, successes: 0, failures: 0, lastError: null, keyId: null };
    this.maxBytes = MAX_ENVELOPE_BYTES;
  }

  /** The prepared bundle to serve now, or null when none could be loaded yet; once one is loaded,
   * the value itself (no promise, so a request costs no promise turn here), before that a promise. */
  get(ctx, now = Date.now()) {
    if (this.current === null) {
      // no bundle yet: wait for a look at the source, but look at most once per poll interval
      // (an origin that is down is not asked by every request; they get 503 not_ready meanwhile)
      if (this.loading === null && this.checkedAt && now - this.checkedAt < this.config.pollInterval * 1000) return null;
      return this.refresh(now).then(() => this.current);
    }
    if (now - this.checkedAt >= this.config.pollInterval * 1000 && this.loading === null) {
      const p = this.refresh(now);
      if (ctx && typeof ctx.waitUntil === "function") ctx.waitUntil(p);
    }
    return this.current;
  }

  /** Look at the source once (one look at a time); install what changed. */
  refresh(now = Date.now()) {
    if (this.loading === null) {
      this.checkedAt = now;
      this.loading = this.check(now).finally(() => {
        this.loading = null;
      });
    }
    return this.loading;
  }

  async check(now) {
    let bytes;
    try {
      bytes = await this.fetch();
    } catch (e) {
      this.failed(`source: ${e.message}`);
      return false;
    }
    if (bytes === null) return false; // unchanged
    let held;
    try {
      held = await this.held();
    } catch (e) {
      if (!(e instanceof StateError)) throw e;
      this.failed(`rollback state: ${e.message}`);
      this.forget(); // look again once the state can be read
      return false;
    }
    try {
      if (this.keys === null) this.keys = await this.runtime.importKeys(this.config.publicKeys);
      const prepared = await this.runtime.prepareBundle(bytes, { keys: this.keys, now: now / 1000, held: held.held, name: this.config.bundleName,
        clockSkew: this.config.clockSkew });
      this.current = prepared;
    } catch (e) {
      const pin = e.code === "wrong_name" ? ` [rule set pinned by ${held.nameFrom}]` : e.code === "rollback" ? ` [floor from ${held.versionFrom}]` : "";
      this.failed(`${refusal(e)}${pin}`); // runtime/errors.py's refusal: the server's last_error in the same words
      return false;
    }
    this.state.loadedAt = now / 1000;
    this.state.successes += 1;
    this.state.keyId = this.current.keyId ?? this.current.key_id ?? null;
    await this.raiseFloor(held.recorded);
    return true;
  }

  /** What a new bundle must respect: {held: {name, version} | null, recorded, nameFrom, versionFrom}. */
  async held() {
    const c = this.config;
    if (this.where === undefined) this.where = await stateLocation(c, this.env);
    if (!this.warned && this.where === null && c.bundleName === null && c.minVersion === null) {
      this.warned = true;
      console.warn("strata: no STRATA_BUNDLE_NAME, STRATA_MIN_VERSION or STRATA_STATE namespace: a fresh isolate accepts any rule set and " +
        "version signed by a trusted key (docs/edge-worker.md, Rollback protection)");
    }
    const recorded = this.where ? await readState(this.where) : null;
    const at = this.where ? `${this.where.binding} key ${this.where.key}` : null;
    let name = c.bundleName;
    let nameFrom = "STRATA_BUNDLE_NAME";
    if (recorded !== null) {
      if (name !== null && recorded.name !== name) {
        throw new StateError(`${at} records rule set '${recorded.name}', but STRATA_BUNDLE_NAME is '${name}': give this worker its own ` +
          `STRATA_STATE namespace, or delete the key if the site was renamed`);
      }
      if (name === null) [name, nameFrom] = [recorded.name, at];
    }
    if (name === null && this.current) [name, nameFrom] = [this.current.name, "this isolate's first bundle"];
    let version = null;
    let versionFrom = null;
    for (const [v, from] of [[c.minVersion, "STRATA_MIN_VERSION"], [recorded?.version ?? null, at], [this.current?.version ?? null, "the bundle this isolate serves"]]) {
      if (v !== null && (version === null || v > version)) [version, versionFrom] = [v, from];
    }
    const held = name === null && version === null ? null : { name, version: version ?? Number.NEGATIVE_INFINITY };
    return { held, recorded, nameFrom, versionFrom };
  }

  /** Record the version now served in the STRATA_STATE namespace when above what it held. KV has
   * no compare-and-set: the record is read again just before, so that an isolate that loaded an
   * older release late does not lower a floor another raised meanwhile (a race within KV's
   * propagation delay remains; STRATA_MIN_VERSION is the floor that never goes down). */
  async raiseFloor(recorded) {
    const cur = this.current;
    if (!this.where || (recorded !== null && recorded.version >= cur.version)) return;
    try {
      const now = await readState(this.where);
      if (now !== null && now.version >= cur.version) return;
      await recordState(this.where, cur.name, cur.version);
    } catch (e) {
      console.warn(`strata: cannot record ${cur.name} v${cur.version} in ${this.where.binding} key ${this.where.key} (${e.message}); ` +
        "a fresh isolate still refuses what STRATA_BUNDLE_NAME and STRATA_MIN_VERSION refuse");
    }
  }

  failed(message) {
    this.state.failures += 1;
    this.state.lastError = message;
    const keep = this.current ? `; still serving ${this.current.name} v${this.current.version}` : "; no bundle loaded yet";
    console.warn(`strata: bundle not loaded: ${message}${keep}`);
  }

  /** Look at the same body again next time (it was not judged, e.g. the download broke off). */
  forget() {
    this.validator = null;
    this.digest = null;
  }

  /** The bundle bytes, or null when unchanged since the last look (accepted or refused). */
  async fetch() {
    const c = this.config;
    if (c.bundleUrl) return this.fetchUrl(c.bundleUrl);
    const kv = this.env[c.bundleBinding];
    if (!kv || typeof kv.get !== "function") throw new Error(`no binding ${c.bundleBinding} with get() (a KV namespace)`);
    const where = `${c.bundleBinding} key ${c.bundleKey}`;
    const data = await kv.get(c.bundleKey, "stream");
    if (data === null) throw new Error(`${c.bundleBinding} has no key ${c.bundleKey}`);
    const bytes = data instanceof ReadableStream ? await readBounded(data, where, this.maxBytes)
      : await readBounded(new Response(data).body, where, this.maxBytes); // a binding that ignores "stream"
    const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
    const tag = Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
    if (tag === this.digest) return null;
    this.digest = tag;
    return bytes;
  }

  async fetchUrl(url) {
    // identity: the bundle is compressed inside its envelope already (a Content-Encoding adds
    // nothing but a bomb to defuse); the bounded read holds if the origin ignores this
    const headers = { "accept-encoding": "identity" };
    if (this.validator?.etag) headers["if-none-match"] = this.validator.etag;
    else if (this.validator?.lastModified) headers["if-modified-since"] = this.validator.lastModified;
    const r = await fetch(url, { headers });
    if (r.status === 304) {
      await r.body?.cancel().catch(() => {});
      return null;
    }
    if (r.status !== 200) {
      await r.body?.cancel().catch(() => {});
      throw new SourceError(`${url} answered ${r.status}`);
    }
    const validator = validatorOf(r.headers);
    if (sameValidator(validator, this.validator)) {
      await r.body?.cancel().catch(() => {});
      return null;
    }
    // remembered before reading: a body refused for its size or content is not downloaded again
    // until its validator changes
    this.validator = validator;
    try {
      return await readBounded(r.body, url, this.maxBytes, r.headers.get("content-length"));
    } catch (e) {
      if (!(e instanceof SourceError)) this.forget(); // the download broke off: not judged, look again
      throw e;
    }
  }
}
