// Reading a JSON request body under a size limit, as edge_server/body.py: 400 / 413 as body.py,
// what is JSON and how a body that is not is described by worker/json_syntax.js.

import { readBounded } from "./bounded_read.js";
import { ApiError } from "./errors.js";
import { jsonProblem, jsonValue, plainJson } from "./json_syntax.js";

/** Whether a parsed JSON value is an object (not null, not an array). */
export const isObject = (v) => v !== null && typeof v === "object" && !Array.isArray(v);

/** The JSON body of a request under a size limit ({} when empty); 400 / 413 as body.py. A promise
 * (a chain, not an async function: one promise turn fewer on every request with a body). */
export function readJson(request, limit) {
  const raw = readBody(request, limit);
  return raw instanceof Promise ? raw.then(parseJson) : Promise.resolve(parseJson(raw));
}

/** The bytes of a request body under a size limit, for parseJson: the platform's own promise of an
 * ArrayBuffer when the length is announced and within the limit (a caller that awaits it and
 * parses costs the request one promise turn, where readJson's chain costs two), an empty Uint8Array
 * without a body; 400 / 413 as body.py (a rejected promise). */
export function readBody(request, limit) {
  try {
    const cl = request.headers.get("content-length");
    if (cl !== null) {
      if (!/^[0-9]+$/.test(cl)) throw new ApiError(400, "bad_request", "Content-Length is not a number");
      if (Number(cl) > limit) throw new ApiError(413, "too_large", `request body over ${limit} bytes`);
      return request.arrayBuffer(); // announced and within the limit: one native read
    }
    if (!request.body) return new Uint8Array(0);
    return readBounded(request.body, limit, () => new ApiError(413, "too_large", `request body over ${limit} bytes`));
  } catch (e) {
    return Promise.reject(e);
  }
}

/** body.py's bytes.strip(): ASCII whitespace, vertical tab and form feed included. */
const BLANK = new Set([0x20, 0x09, 0x0a, 0x0d, 0x0b, 0x0c]);

/** The parsed body ({} when blank) of readBody's bytes (an ArrayBuffer or a Uint8Array); 400
 * invalid_json with json_syntax.js's problem otherwise. */
export function parseJson(bytes) {
  const raw = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  const plain = plainJson(raw);
  if (plain !== undefined) return plain;
  if (raw.every((c) => BLANK.has(c))) return {};
  const problem = jsonProblem(raw);
  if (problem !== null) throw new ApiError(400, "invalid_json", `request body is not JSON (UTF-8): ${problem}`);
  return jsonValue(raw, true); // integers beyond ±2^53 exact (BigInt), as the server's orjson reads them
}
