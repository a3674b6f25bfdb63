// strata-device.mjs (browser/parts.js): the uap-core regexes of worker/device.js for every visitor —
// the browser and OS patterns, and of the device parsers only the Spider ones (SPIDERS, with their
// indexes, added by tools/build_browser.js). The whole device list is strata-crawler.mjs, loaded only
// for a User-Agent a Spider parser matches (browser/uap_regexes.js).
export { OS, UA } from '../../worker/uap_regexes.js';
