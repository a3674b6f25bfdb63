// The ES-module entry (dist/strata.mjs): browser/index.js, with its lazily loaded parts
// (browser/parts.js) found beside this module's own URL.
import { setPartsBase } from './parts.js';

setPartsBase(import.meta.url);

export * from './index.js';
