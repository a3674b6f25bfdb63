// The rollback state of a worker: the rule set it serves and the lowest version it may load, so
// that every isolate, fresh or not, refuses what a `strata serve` with its state file would refuse
// (edge_server/state.py; docs/edge-worker.md "Rollback protection"). It comes from three places
// every isolate reads alike:
//   STRATA_BUNDLE_NAME   the one rule set; a bundle of another name is refused (wrong_name)
//   STRATA_MIN_VERSION   a floor set at deploy time; an older bundle is refused (rollback)
//   a KV namespace bound as STRATA_STATE (STRATA_STATE_BINDING): the record {"name", "version"}
//     under the key bundle-state-<source id>, raised by every isolate that loads a newer bundle
//     and read before any new bundle is accepted (KV is eventually consistent: a floor written in
//     one location reaches the others within about a minute; STRATA_MIN_VERSION holds at once).
// The key is derived from the bundle's source (its URL without credentials, query or fragment,
// or the KV key it is read from), so workers of different sources sharing a namespace never share
// a floor: the same rule as the server's state file.

export class StateError extends Error {}

export const STATE_PREFIX = "bundle-state-";

/** The source as its rollback state is keyed: an URL without credentials, query or fragment
 * (a rotating token must not reset the floor), scheme and host lower case, default port dropped;
 * a KV source as kv:BINDING/KEY. The same rule as edge_server/state.py's canonical_source. */
export function canonicalSource(config) {
  if (config.bundleUrl) {
    const u = new URL(config.bundleUrl);
    return `${u.protocol}//${u.host}${u.pathname || "/"}`;
  }
  return `kv:${config.bundleBinding}/${config.bundleKey}`;
}

/** The first 16 hex digits of the SHA-256 of the canonical source. */
export async function sourceId(source) {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(source)));
  return Array.from(digest.slice(0, 8), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Where the state of this worker's source is kept, or null when no KV namespace is bound. */
export async function stateLocation(config, env) {
  const kv = env[config.stateBinding];
  if (kv === undefined || kv === null) return null;
  if (typeof kv.get !== "function" || typeof kv.put !== "function") {
    throw new StateError(`${config.stateBinding} is bound but is not a KV namespace (get and put); bind a KV namespace there, or set STRATA_STATE_BINDING to one`);
  }
  const source = canonicalSource(config);
  return { kv, binding: config.stateBinding, key: STATE_PREFIX + (await sourceId(source)), source };
}

/** The recorded state {name, version}, null when none; StateError when it cannot be read or parsed
 * (a floor that cannot be read is not ignored: no new bundle is accepted until it can). */
export async function readState(where) {
  let text;
  try {
    text = await where.kv.get(where.key, "text");
  } catch (e) {
    throw new StateError(`${where.binding} key ${where.key}: cannot read the rollback state (${e.message}); no new bundle is accepted until it can be read`);
  }
  if (text === null || text === undefined) return null;
  let d;
  try {
    d = JSON.parse(text);
  } catch (e) {
    d = null;
  }
  if (d === null || typeof d !== "object" || typeof d.name !== "string" || !d.name || !Number.isInteger(d.version)) {
    throw new StateError(`${where.binding} key ${where.key}: the rollback state is corrupt; it should hold {"name": ..., "version": ...}. ` +
      `Put the last good one back (wrangler kv key put ${where.key} '{"name":"NAME","version":N}' --binding ${where.binding}), or delete the key to accept any version once`);
  }
  return { name: d.name, version: d.version };
}

/** Record `version` of `name` (called when it is above what was read); errors are the caller's to log. */
export async function recordState(where, name, version) {
  await where.kv.put(where.key, JSON.stringify({ name, version, source: where.source }));
}
