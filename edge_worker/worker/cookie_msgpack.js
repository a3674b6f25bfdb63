// The session cookie's msgpack (session.js, browser/storage.js): runtime/msgpack.js, Strata's one
// codec, in the library's default flavour — numbers (64-bit integers as numbers), string or number
// map keys, no length limits — which is how @msgpack/msgpack reads and writes the cookie for the
// Python server's agreement (tests/vectors/cookies.json). test/cookie_msgpack.test.js fuzzes both
// ways against the library.

import { pack, reader } from "../runtime/msgpack.js";

export { pack };
/** The writer of a known shape (Session.pack): the same bytes as pack(), part by part. */
export { any, arrayHeader, begin, num, str, strings, tables, written } from "../runtime/msgpack.js";

/** The value of the msgpack bytes `raw` (a Uint8Array); throws on invalid, truncated or trailing
 * data. Byte strings are views into `raw`. */
export const unpack = reader();
