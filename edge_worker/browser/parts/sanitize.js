// strata-sanitize.mjs (browser/parts.js): parse5 and the servers' template sanitiser.
export { sanitize } from '../../worker/sanitize.js';
