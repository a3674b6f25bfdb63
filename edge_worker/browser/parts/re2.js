// strata-re2.mjs (browser/parts.js): re2js, the engine behind `matches`.
export { RE2JS } from 're2js';
