// The request signals in the browser, derived by the worker's own code (worker/signals.js, which
// derives them as edge_server/signals.py) from what the browser would have sent a server: the page
// URL and referrer, Accept-Language from navigator.languages, the User-Agent and its client hints
// (navigator.userAgentData), and the page's host. geo.country stays "" (no CDN header on the
// device); time.hour and time.weekday are in the visitor's own time zone (Date's local time).

import { LOCAL_TIME_ZONE, RequestContext } from '../worker/signals.js';
import { requireDeviceRules } from './uap_regexes.js';

/** Accept-Language as Chromium builds it from the language list: q falls by 0.1 per tag. */
export function acceptLanguage(langs) {
  return langs.slice(0, 10).map((l, i) => (i === 0 ? l : `${l};q=${(1 - i / 10).toFixed(1)}`)).join(',');
}

/** The request headers (lower-case names) a server would have read from this browser. */
export function browserHeaders(nav = navigator, loc = location) {
  const h = new Map([
    ['host', loc.host],
    ['accept-language', acceptLanguage(Array.from(nav.languages ?? (nav.language ? [nav.language] : [])))],
    ['user-agent', nav.userAgent ?? ''],
  ]);
  const ch = nav.userAgentData;
  if (ch) {
    h.set('sec-ch-ua-mobile', ch.mobile ? '?1' : '?0');
    if (ch.platform) h.set('sec-ch-ua-platform', `"${ch.platform}"`);
  }
  return h;
}

let context = null;

/** The request signals of this page view at `now` (Unix seconds). */
export function pageSignals(now, { nav = navigator, loc = location, referrer = document.referrer } = {}) {
  requireDeviceRules(); // the uap regexes are a lazily loaded part (loadDeviceRules)
  context ??= new RequestContext('x-no-country', LOCAL_TIME_ZONE); // time.hour and time.weekday in the browser's zone
  const headers = browserHeaders(nav, loc);
  return context.signals(loc.pathname + loc.search, (n) => headers.get(n) ?? null, referrer || null, now);
}
