// The JavaScript OpenFeature server SDK with the OFREP provider, against a live `strata serve`.
// Usage: node tests/openfeature/ofrep_client.mjs BASE_URL [OFREP_TOKEN] < cases.json (the token: as a
// server-side caller, whose targetingKey names the session; docs/openfeature.md)
// cases: [{"flag", "type": "object"|"string"|"number"|"boolean", "default", "context"}]
// prints one JSON line: [{"value", "reason", "variant", "errorCode", "flagMetadata"}] in case order.
// The packages are edge_worker's dev dependencies (cd edge_worker && npm ci).
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';

const require = createRequire(new URL('../../edge_worker/package.json', import.meta.url));
const { OpenFeature } = require('@openfeature/server-sdk');
const { OFREPProvider } = require('@openfeature/ofrep-provider');

const baseUrl = process.argv[2];
const cases = JSON.parse(readFileSync(0, 'utf8'));
const token = process.argv[3];
const headers = token ? [['Authorization', `Bearer ${token}`]] : [];
await OpenFeature.setProviderAndWait('strata', new OFREPProvider({ baseUrl, headers }));
const client = OpenFeature.getClient('strata');
const method = { object: 'getObjectDetails', string: 'getStringDetails', number: 'getNumberDetails', boolean: 'getBooleanDetails' };
const out = [];
for (const c of cases) {
  const d = await client[method[c.type]](c.flag, c.default, c.context);
  out.push({ value: d.value, reason: d.reason, variant: d.variant ?? null, errorCode: d.errorCode ?? null, flagMetadata: d.flagMetadata });
}
console.log(JSON.stringify(out));
await OpenFeature.close();
