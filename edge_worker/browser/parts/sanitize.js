// strata-sanitize.mjs (browser/parts.js): parse5 and the servers' template sanitiser, for the
// templates browser/sanitize.js does not parse with the browser's own parser.
export { sanitize } from '../../worker/sanitize.js';
