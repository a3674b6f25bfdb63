// worker/uap_regexes.js in the browser build (tools/build_browser.js puts it in its place): the
// same uap-core regexes, imported from strata-device.mjs (browser/parts.js) by loadDeviceRules(),
// which Strata.load() awaits beside the bundle; worker/device.js compiles each one on first use,
// skipping those whose required text (computed by the build) the User-Agent lacks.

import { REQUIRED_TEXTS } from '../worker/device.js';
import { loadPart, notLoaded } from './parts.js';

export const UA = [];
export const OS = [];
export const DEVICE = [];
let loaded = false;

/** Load the regexes (once) into UA, OS and DEVICE. */
export async function loadDeviceRules() {
  if (loaded) return;
  const m = await loadPart('device');
  if (!loaded) {
    UA.push(...m.UA);
    OS.push(...m.OS);
    DEVICE.push(...m.DEVICE);
    // the patterns' required texts, computed when the part was built (worker/device.js)
    REQUIRED_TEXTS.ua.push(...m.UA_TEXTS);
    REQUIRED_TEXTS.os.push(...m.OS_TEXTS);
    loaded = true;
  }
}

/** Throws unless loadDeviceRules() has finished (device() would otherwise find nothing). */
export function requireDeviceRules() {
  if (!loaded) throw notLoaded('device', 'loadDeviceRules');
}
