-- wrk script: POST OFREP single-flag evaluations (/ofrep/v1/evaluate/flags/hero), the visitor mix of
-- post.lua: every 5th with Sec-GPC (no consent), of the rest half returning visitors carrying a
-- session cookie (COOKIES, '|'-separated), half first visits identified by a targetingKey (OFREP's
-- way to name a visitor without a cookie, sent as a server-side caller with the OFREP token). Contexts cycle through the same four pages as post.lua.
local delay_ms = tonumber(os.getenv("DELAY_MS") or "0")
local cookies = {}
for c in string.gmatch(os.getenv("COOKIES") or "", "[^|]+") do table.insert(cookies, c) end
local contexts = {
  '"page.url":"/"',
  '"page.url":"/?utm_source=newsletter&utm_medium=email"',
  '"page.url":"/tents.html","page.category":"tents"',
  '"page.url":"/cart.html","cart.items":[{"sku":"TB-1","category":"tents","price":249.0,"quantity":1}],"cart.value":249.0',
}
local uas = {
  "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148 Safari/604.1",
  "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36",
}
local n, k = 0, 0
request = function()
  n = n + 1
  local headers = {["Content-Type"] = "application/json", ["User-Agent"] = uas[(n % #uas) + 1], ["CF-IPCountry"] = "US"}
  local ctx = contexts[(n % #contexts) + 1]
  if n % 5 == 0 then
    headers["Sec-GPC"] = "1"
  elseif n % 2 == 0 and #cookies > 0 then
    k = k + 1
    headers["Cookie"] = cookies[(k % #cookies) + 1]
  else
    ctx = ctx .. ',"targetingKey":"visitor-' .. (n % 1000) .. '"'
    headers["Authorization"] = "Bearer bench-ofrep" -- a key names the session only for a server-side caller with the OFREP token
  end
  return wrk.format("POST", nil, headers, '{"context":{' .. ctx .. '}}')
end
if delay_ms > 0 then
  delay = function() return delay_ms end
end
