// The bundle of one isolate: fetched from an HTTPS origin (If-None-Match) or read from a KV-like
// binding, verified and prepared once, and refreshed in the background (ctx.waitUntil) at most
// every pollInterval seconds: a request never waits for a refresh, only the very first one of an
// isolate waits for the first load. A bundle that fails any step (download, signature, validity,
// rollback) is counted and reported on /readyz, and the last good one keeps serving, as
// edge_server/bundles.py does.

export class BundleSource {
  /** `runtime`: {prepareBundle, importKeys, refusal}; `config`: configFrom(env); `env`: the bindings. */
  constructor(runtime, config, env) {
    this.runtime = runtime;
    this.config = config;
    this.env = env;
    this.current = null;
    this.keys = null;
    this.etag = null;
    this.checkedAt = 0; // ms
    this.loading = null; // the refresh in flight
    this.state = { loadedAt: 0, successes: 0, failures: 0, lastError: null, keyId: null };
  }

  /** The prepared bundle to serve now, or null when none could be loaded yet. */
  async get(ctx, now = Date.now()) {
    if (this.current === null) {
      // no bundle yet: wait for a look at the source, but look at most once per poll interval
      // (an origin that is down is not asked by every request; they get 503 not_ready meanwhile)
      if (this.loading === null && this.checkedAt && now - this.checkedAt < this.config.pollInterval * 1000) return null;
      await this.refresh(now);
      return this.current;
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
    try {
      if (this.keys === null) this.keys = await this.runtime.importKeys(this.config.publicKeys);
      const held = this.current ? { name: this.current.name, version: this.current.version } : null;
      const prepared = await this.runtime.prepareBundle(bytes, { keys: this.keys, now: now / 1000, held, clockSkew: this.config.clockSkew });
      this.current = prepared;
    } catch (e) {
      this.failed(this.runtime.refusal(e)); // runtime/errors.py's refusal: the same text as the server's last_error
      this.etag = null; // look again next time: the origin may fix it under the same ETag
      return false;
    }
    this.state.loadedAt = now / 1000;
    this.state.successes += 1;
    this.state.keyId = this.current.keyId ?? this.current.key_id ?? null;
    return true;
  }

  failed(message) {
    this.state.failures += 1;
    this.state.lastError = message;
    const keep = this.current ? `; still serving ${this.current.name} v${this.current.version}` : "; no bundle loaded yet";
    console.warn(`strata: bundle not loaded: ${message}${keep}`);
  }

  /** The bundle bytes, or null when unchanged since the last look. */
  async fetch() {
    const c = this.config;
    if (c.bundleUrl) {
      const headers = this.etag ? { "if-none-match": this.etag } : {};
      const r = await fetch(c.bundleUrl, { headers });
      if (r.status === 304) return null;
      if (r.status !== 200) throw new Error(`${c.bundleUrl} answered ${r.status}`);
      const etag = r.headers.get("etag");
      const bytes = new Uint8Array(await r.arrayBuffer());
      if (etag && etag === this.etag) return null;
      this.etag = etag;
      return bytes;
    }
    const kv = this.env[c.bundleBinding];
    if (!kv || typeof kv.get !== "function") throw new Error(`no binding ${c.bundleBinding} with get() (a KV namespace)`);
    const data = await kv.get(c.bundleKey, "arrayBuffer");
    if (data === null) throw new Error(`${c.bundleBinding} has no key ${c.bundleKey}`);
    const bytes = new Uint8Array(data);
    const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
    const tag = Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
    if (tag === this.etag) return null;
    this.etag = tag;
    return bytes;
  }
}
