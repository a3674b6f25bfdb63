// Reading a JSON request body under a size limit, as edge_server/body.py: 400 / 413 as body.py.

import { ApiError } from "./errors.js";

/** Whether a parsed JSON value is an object (not null, not an array). */
export const isObject = (v) => v !== null && typeof v === "object" && !Array.isArray(v);

/** The JSON body of a request under a size limit ({} when empty); 400 / 413 as body.py. */
export async function readJson(request, limit) {
  const cl = request.headers.get("content-length");
  if (cl !== null) {
    if (!/^[0-9]+$/.test(cl)) throw new ApiError(400, "bad_request", "Content-Length is not a number");
    if (Number(cl) > limit) throw new ApiError(413, "too_large", `request body over ${limit} bytes`);
  }
  if (cl !== null) return parseJson(new Uint8Array(await request.arrayBuffer())); // announced and within the limit: one native read
  const chunks = [];
  let size = 0;
  if (request.body) {
    const reader = request.body.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.length;
      if (size > limit) {
        reader.cancel();
        throw new ApiError(413, "too_large", `request body over ${limit} bytes`);
      }
      chunks.push(value);
    }
  }
  const raw = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    raw.set(c, at);
    at += c.length;
  }
  return parseJson(raw);
}

const STRICT_UTF8 = new TextDecoder("utf-8", { fatal: true });

function parseJson(raw) {
  let text;
  try {
    text = STRICT_UTF8.decode(raw);
  } catch {
    throw new ApiError(400, "invalid_json", "request body is not JSON (UTF-8): invalid UTF-8");
  }
  if (!text.replace(/^[ \t\n\r\v\f]+|[ \t\n\r\v\f]+$/g, "")) return {};
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new ApiError(400, "invalid_json", `request body is not JSON (UTF-8): ${e.message}`);
  }
}
