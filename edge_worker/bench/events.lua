-- POST /v1/events with pages.lua's mix: a purchase goal, half with a session cookie, 10% Sec-GPC.
local cookie = os.getenv("COOKIE") or ""
local n = 0
request = function()
  n = n + 1
  local headers = {["User-Agent"] = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 Safari/605.1.15",
                   ["Accept-Language"] = "de-CH,de;q=0.9,en;q=0.5", ["Content-Type"] = "application/json"}
  if n % 2 == 0 and cookie ~= "" then headers["Cookie"] = cookie end
  if n % 10 == 0 then headers["Sec-GPC"] = "1" end
  return wrk.format("POST", "/v1/events", headers, '{"goal": "add_to_cart", "value": 12.5}')
end
