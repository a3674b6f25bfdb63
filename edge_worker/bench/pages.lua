-- Page-mode visitor mix for wrk: four pages of the TrailBlazer shop; half the requests carry a
-- session cookie (COOKIE env), 10% send Sec-GPC. Same script for workerd and the Python server.
local paths = {"/", "/tents.html", "/newsletter.html?utm_source=newsletter&utm_medium=email", "/product.html"}
local cookie = os.getenv("COOKIE") or ""
local n = 0
request = function()
  n = n + 1
  local headers = {["User-Agent"] = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 Safari/605.1.15",
                   ["Accept-Language"] = "de-CH,de;q=0.9,en;q=0.5"}
  if n % 2 == 0 and cookie ~= "" then headers["Cookie"] = cookie end
  if n % 10 == 0 then headers["Sec-GPC"] = "1" end
  return wrk.format("GET", paths[(n % #paths) + 1], headers)
end
