-- wrk script: POST a realistic /v1/decide body; optional pacing for a target request rate.
-- The mix, by request number: every 5th a visitor with Sec-GPC (no consent, no cookie); of the
-- rest, half returning visitors carrying a session cookie (minted by http_bench.py through real
-- requests and passed in COOKIES, '|'-separated), half first visits without one. Bodies cycle
-- through the home page, a newsletter arrival, the tents page and the cart with client signals.
-- Pacing: each connection waits DELAY_MS between requests (set by http_bench.py through the
-- environment); latency is measured per request, without the pause.
local delay_ms = tonumber(os.getenv("DELAY_MS") or "0")
local cookies = {}
for c in string.gmatch(os.getenv("COOKIES") or "", "[^|]+") do table.insert(cookies, c) end
local bodies = {
  '{"page":{"url":"/"},"slots":["hero","banner","offer","recs"]}',
  '{"page":{"url":"/?utm_source=newsletter&utm_medium=email"},"slots":["hero","banner","offer","recs"]}',
  '{"page":{"url":"/tents.html","category":"tents"},"slots":["hero","banner","offer","recs"]}',
  '{"page":{"url":"/cart.html"},"slots":["hero","banner","offer","recs"],"signals":{"cart.items":[{"sku":"TB-1","category":"tents","price":249.0,"quantity":1}],"cart.value":249.0}}',
}
local uas = {
  "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148 Safari/604.1",
  "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36",
}
local n, k = 0, 0
request = function()
  n = n + 1
  local headers = {["Content-Type"] = "application/json", ["User-Agent"] = uas[(n % #uas) + 1], ["CF-IPCountry"] = "US"}
  if n % 5 == 0 then
    headers["Sec-GPC"] = "1"
  elseif n % 2 == 0 and #cookies > 0 then
    k = k + 1
    headers["Cookie"] = cookies[(k % #cookies) + 1]
  end
  return wrk.format("POST", nil, headers, bodies[(n % #bodies) + 1])
end
if delay_ms > 0 then
  delay = function() return delay_ms end
end
