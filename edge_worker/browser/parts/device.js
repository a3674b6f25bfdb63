// strata-device.mjs (browser/parts.js): the uap-core regexes of worker/device.js.
export { DEVICE, OS, UA } from '../../worker/uap_regexes.js';
