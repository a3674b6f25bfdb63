// decide.lua's visitor mix as the in-process benches replay it (decide_path.js, request_cpu.js,
// decide_path_workerd.py, signals_steps.js): four pages, half the visitors with a session cookie,
// 10% with Sec-GPC, one desktop Safari User-Agent. One definition, so every bench measures the
// same requests as the wrk mix.

export const UA = 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 Safari/605.1.15';
export const URLS = ['/', '/tents.html', '/newsletter.html?utm_source=newsletter&utm_medium=email', '/product.html'];

/** The headers every request of the mix sends. */
export const baseHeaders = () => ({ 'user-agent': UA, 'accept-language': 'de-CH,de;q=0.9,en;q=0.5', 'content-type': 'application/json' });

/** The headers of the mix's n-th request: `cookie` (the returning visitors' `strata_session=...`) on
 * every second one, Sec-GPC on every tenth. */
export function mixHeaders(n, cookie) {
  const headers = baseHeaders();
  if (n % 2 === 0) headers.cookie = cookie;
  if (n % 10 === 0) headers['sec-gpc'] = '1';
  return headers;
}

/** The page URL of the mix's n-th request. */
export const mixUrl = (n) => URLS[(n + 1) % URLS.length];
