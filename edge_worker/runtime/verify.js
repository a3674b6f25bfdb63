// Bundle verification, step by step as runtime/verify.py (docs/bundle-format.md):
// size -> envelope -> format/codec -> key id known -> signature -> inflate -> payload shape ->
// time window -> version. The signature is checked (WebCrypto Ed25519, ed25519.js) before the payload is
// inflated or parsed.

import {
  BadSignature, BundleError, BundleTooLarge, Expired, InvalidIR, MalformedBundle, NotYetValid, PrepareFailed, RollbackRefused, UnknownKey,
  UnsupportedFormat, WrongName,
} from './errors.js';
import {
  DEFAULT_CLOCK_SKEW, FORMAT_CODEC, FORMAT_VERSION, MAX_ENVELOPE_BYTES, MAX_PAYLOAD_BYTES, MAX_PAYLOAD_DEPTH, MAX_PAYLOAD_OBJECTS, MAX_PAYLOAD_STRING, SIGNATURE_DOMAIN,
  SIGNATURE_DOMAIN_V2,
} from './format.js';
import { BoundsExceeded, checkBounds } from './bounds.js';
import { fromColumns } from './codec.js';
import { verifySignature } from './ed25519.js';
import { unpack, unpackEnvelope } from './msgpack.js';
import { loadRegexEngineFor } from './regex_engine.js';
import { isInt, isMap, validatePayload } from './validate.js';

const ENVELOPE_KEYS = ['format', 'key_id', 'payload', 'signature'];

function unpackOrThrow(bytes, what, decode = unpack) {
  try {
    return decode(bytes);
  } catch (e) {
    if (e instanceof RangeError && /call stack/i.test(e.message)) throw new MalformedBundle(`${what} is nested too deeply`);
    throw new MalformedBundle(`${what} is not valid msgpack (${e && e.name}: ${e && e.message}); the file is truncated or not a Strata bundle`);
  }
}

function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** The bytes a signature covers (runtime/format.py signed_message). */
export function signedMessage(fmt, codec, payload) {
  if (fmt === FORMAT_VERSION) return concat(SIGNATURE_DOMAIN, payload);
  return concat(SIGNATURE_DOMAIN_V2, new TextEncoder().encode(codec + '\0'), payload);
}

/** Inflate one gzip member through DecompressionStream with the 64 MiB output cap, read as a
 * stream so that a decompression bomb stops at the cap. */
export async function gunzip(data, limit = MAX_PAYLOAD_BYTES) {
  const ds = new DecompressionStream('gzip');
  const writer = ds.writable.getWriter();
  writer.write(data).catch(() => {});
  writer.close().catch(() => {});
  const reader = ds.readable.getReader();
  const chunks = [];
  let total = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.length;
      if (total > limit) {
        reader.cancel().catch(() => {});
        throw new MalformedBundle(`payload inflates beyond ${limit} bytes; refusing (decompression bomb guard)`);
      }
      chunks.push(value);
    }
  } catch (e) {
    if (e instanceof MalformedBundle) throw e;
    throw new MalformedBundle(`payload is not a gzip stream, or is truncated or has trailing data (${e && e.message})`);
  }
  return concat(...chunks);
}

function toNum(v) {
  return typeof v === 'bigint' ? Number(v) : v;
}

/**
 * Verify `bytes` against the trusted `keys` (Map key id -> CryptoKey). Returns
 * {keyId, payload (raw decoded tree, validated), size}. Throws a BundleError subclass.
 */
export async function verifyBundle(bytes, keys, { now = null, clockSkew = DEFAULT_CLOCK_SKEW, held = null, name = null } = {}) {
  try {
    return await verify(bytes, keys, now, clockSkew, held, name);
  } catch (e) {
    if (e instanceof BundleError) throw e;
    // Any other failure (a defect, memory, stack) is a refusal: the caller keeps its last good bundle.
    throw new PrepareFailed(`verifying the bundle failed unexpectedly (${e && e.name}: ${String(e && e.message).slice(0, 200)}); keep the last good bundle and report this bundle to the Strata maintainers`);
  }
}

/** Python's check_rollback: refuse another rule set than the one served (`name`, or the name
 * `held`), or a version older than the one held. Equal versions pass. */
export function checkRollback(bundleName, version, name, held) {
  for (const expected of [name, held ? held.name : null]) {
    if (expected !== null && expected !== undefined && bundleName !== expected) {
      throw new WrongName(`bundle '${bundleName}' v${version} is not the rule set this server serves ('${expected}'); publish that rule set here, or run a separate server (--bundle-name) for the other one`);
    }
  }
  if (held && version < held.version) {
    throw new RollbackRefused(`bundle ${bundleName} v${version} is older than v${held.version} already loaded or seen; refusing to roll back`);
  }
}

function unpackPayload(raw) {
  try {
    checkBounds(raw, { maxObjects: MAX_PAYLOAD_OBJECTS, maxDepth: MAX_PAYLOAD_DEPTH, maxStr: MAX_PAYLOAD_STRING });
  } catch (e) {
    if (!(e instanceof BoundsExceeded)) throw e;
    throw new BundleTooLarge(`payload refused before unpacking: ${e.message} (limits: ${MAX_PAYLOAD_OBJECTS} objects, nesting ${MAX_PAYLOAD_DEPTH}, strings of ${MAX_PAYLOAD_STRING} bytes); the bundle was not written by a Strata compiler`);
  }
  return unpackOrThrow(raw, 'payload');
}

async function verify(bytes, keys, now, clockSkew, held, name) {
  if (bytes instanceof ArrayBuffer) bytes = new Uint8Array(bytes);
  if (!(bytes instanceof Uint8Array)) throw new MalformedBundle(`bundle must be bytes, got ${typeof bytes}`);
  if (bytes.length > MAX_ENVELOPE_BYTES) throw new BundleTooLarge(`bundle is ${bytes.length} bytes, over the ${MAX_ENVELOPE_BYTES}-byte limit`);
  if (bytes.length === 0) throw new MalformedBundle('bundle is empty');

  const env = unpackOrThrow(bytes, 'bundle envelope', unpackEnvelope);
  const fields = isMap(env) ? Object.keys(env).sort() : null;
  const want = ENVELOPE_KEYS.slice().sort().join();
  const wantCodec = ENVELOPE_KEYS.concat(['codec']).sort().join();
  if (fields === null || (fields.join() !== want && fields.join() !== wantCodec)) {
    throw new MalformedBundle('not a Strata bundle: expected a map with exactly format, key_id, payload, signature (and codec in format 2)');
  }
  const { format: fmt, key_id: kid, payload, signature: sig } = env;
  if (!isInt(fmt)) throw new MalformedBundle("envelope field 'format' must be an integer");
  if (fmt !== FORMAT_VERSION && fmt !== FORMAT_CODEC) {
    throw new UnsupportedFormat(`bundle format ${fmt} is not supported by this runtime (it reads formats 1, 2); upgrade the runtime or recompile with a matching compiler`);
  }
  if ((env.codec !== undefined) !== (fmt === FORMAT_CODEC)) {
    throw new MalformedBundle(`envelope of format ${fmt} ${fmt === FORMAT_CODEC ? 'needs' : 'cannot have'} a codec field`);
  }
  const codec = fmt === FORMAT_CODEC ? env.codec : 'xz';
  if (codec !== 'xz' && codec !== 'gzip') throw new MalformedBundle(`unknown payload codec '${String(codec).slice(0, 20)}' (known: xz, gzip)`);
  if (typeof kid !== 'string' || !(payload instanceof Uint8Array) || !(sig instanceof Uint8Array)) {
    throw new MalformedBundle('envelope fields have wrong types (key_id: str, payload: bin, signature: bin)');
  }
  if (codec === 'xz') {
    // Workers have no xz (DecompressionStream reads gzip and deflate only).
    throw new UnsupportedFormat("bundle payload is xz, which the JavaScript runtime cannot inflate; compile it with 'strata compile --codec gzip'");
  }

  const key = keys.get(kid);
  if (key === undefined) {
    const known = Array.from(keys.keys()).sort().join(', ') || 'none';
    throw new UnknownKey(`bundle is signed by key '${kid}', which is not trusted here (trusted: ${known}); add its public key with --pub`);
  }
  const ok = await verifySignature(key, sig, signedMessage(fmt, codec, payload));
  if (!ok) throw new BadSignature(`signature does not match the payload for key ${kid}: the bundle was modified after signing, or signed by another key`);

  const raw = await gunzip(payload);
  // the seam of regex_engine.js: the browser loads re2js only for a bundle that needs it, fetched
  // while the payload is decoded (a failed load is reported by the await below)
  const regexes = loadRegexEngineFor(raw);
  regexes.catch(() => {});
  let body = unpackPayload(raw);
  try {
    body = fromColumns(body);
  } catch (e) {
    throw new InvalidIR(`payload candidate columns: ${e.message}; recompile the bundle with this version of strata`);
  }
  await regexes;
  validatePayload(body);

  const t = now === null ? Date.now() / 1000 : now;
  const notBefore = toNum(body.not_before);
  const expires = toNum(body.expires);
  const version = toNum(body.version);
  if (t + clockSkew < notBefore) {
    throw new NotYetValid(`bundle ${body.name} v${version} is not valid before ${notBefore} (now ${Math.trunc(t)}, skew ${clockSkew}s); check this node's clock`);
  }
  if (t - clockSkew >= expires) {
    throw new Expired(`bundle ${body.name} v${version} expired at ${expires} (now ${Math.trunc(t)}); publish a freshly compiled bundle`);
  }
  checkRollback(body.name, version, name, held);
  return { keyId: kid, payload: body, size: bytes.length };
}
