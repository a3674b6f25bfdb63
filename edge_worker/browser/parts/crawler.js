// strata-crawler.mjs (browser/parts.js): every uap-core device parser, which worker/device.js runs
// only when a Spider parser matches (the parsers before it decide whether the visitor is one);
// browser/uap_regexes.js loads it only for such a User-Agent.
export { DEVICE } from '../../worker/uap_regexes.js';
