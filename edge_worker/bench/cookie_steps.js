// The session cookie's steps, one at a time, for bench/steps_workerd.py (which bundles this module
// once per checkout, @@ROOT@@ replaced by the checkout): each mode runs `n` of one step on a
// visitor's session of the bench's size (two categories, a cap, two exposures, three shown keys, two
// model entries, a lineage tag: ~290 bytes of msgpack, a ~370-character cookie value).
//   pack: Session.pack();  unpack: Session.unpack of its bytes;  b64url: the sealed blob's text;
//   b64urlDecode: that text's bytes.

import { Session } from "@@ROOT@@/edge_worker/worker/session.js";
import { b64url, b64urlDecode } from "@@ROOT@@/edge_worker/worker/base64url.js";

const s = new Session("AbCdEfGhIjKlMnOpQrStUv");
Object.assign(s, {
  visitCount: 3, pageViews: 4, totalPageViews: 17, firstSeen: 1790000000, lastSeen: 1790003000, recentCategories: ["tents", "boots"],
  utmSource: "newsletter", caps: { "hero/r1": [2, 1790003000] }, exposures: { "exp-hero": ["b", 3, "7300/2700"], "exp-two": ["control", 2, ""] },
  shown: ["hero|b|exp-hero", "promo|base|base", "nav|a|exp-two"], visitNonce: "AbCdEfGhIjKlMnOp",
  models: { propensity: ["abcdefgh", "ijklmnop", Uint8Array.of(1, 2, 3, 4, 5), 80, false, "treatment", 0], churn: ["abcdefgh", "ijklmnop", Uint8Array.of(1, 2, 3), 70, false, "", 0] },
  entered: 3, lineage: Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12),
});
const bytes = s.pack();
if (Session.unpack(bytes) === null) throw new Error("cookie_steps: the bench's session does not read back");
const blob = Uint8Array.from({ length: 12 + bytes.length + 16 }, (_, i) => (i * 37 + 11) & 255);
const text = b64url(blob);
export const modes = {
  pack: (n) => { let t = 0; for (let i = 0; i < n; i++) { s.lastSeen = 1790003000 + i; t += s.pack().length; } return t; },
  unpack: (n) => { let t = 0; for (let i = 0; i < n; i++) t += Session.unpack(bytes).visitCount; return t; },
  b64url: (n) => { let t = 0; for (let i = 0; i < n; i++) { blob[0] = i; t += b64url(blob).length; } return t; },
  b64urlDecode: (n) => { let t = 0; for (let i = 0; i < n; i++) t += b64urlDecode(text)[i & 127]; return t; },
};
