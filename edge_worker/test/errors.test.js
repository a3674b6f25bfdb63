// Bundle refusals read the same on both runtimes after minification (issue #20 point 10: /readyz
// showed `yt (rollback)` from the minified worker): every error class of runtime/errors.js, bundled
// and minified by esbuild as the deployable worker is, keeps the name and code of its Python
// counterpart in runtime/errors.py, and refusal() writes runtime/errors.py's refusal text.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

import { buildSync } from "esbuild";

const ROOT = new URL("../../", import.meta.url);

/** runtime/errors.py's classes: name -> code. */
function pythonErrors() {
  const src = readFileSync(new URL("runtime/errors.py", ROOT), "utf8");
  const out = {};
  for (const m of src.matchAll(/^class (\w+)\(\w+\):[\s\S]*?^ {4}code = "(\w+)"/gm)) out[m[1]] = m[2];
  return out;
}

test("errors: minified, every bundle error keeps its Python name and code, and refusal() writes the Python text", async () => {
  const entry = `import * as E from "./runtime/errors.js";
export const names = Object.fromEntries(Object.entries(E).filter(([, C]) => C === E.BundleError || C.prototype instanceof E.BundleError)
  .map(([k, C]) => { const e = new C("the message"); return [k, [e.name, e.code, E.refusal(e)]]; }));
export const other = E.refusal(new TypeError("x"));`;
  const out = buildSync({ stdin: { contents: entry, resolveDir: new URL("edge_worker/", ROOT).pathname }, bundle: true, format: "esm", minify: true, write: false });
  const code = out.outputFiles[0].text;
  assert.ok(!/class RollbackRefused/.test(code), "the build is minified");
  const { names, other } = await import(`data:text/javascript;base64,${Buffer.from(code).toString("base64")}`);
  const python = pythonErrors();
  assert.ok(Object.keys(python).length >= 12, Object.keys(python));
  assert.deepEqual(Object.keys(names).sort(), Object.keys(python).sort());
  for (const [exported, [name, code_, text]] of Object.entries(names)) {
    assert.deepEqual([name, code_, text], [exported, python[exported], `${exported} (${python[exported]}): the message`]);
  }
  assert.equal(other, "TypeError: x");
});
