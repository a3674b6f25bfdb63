-- The floor: GET /healthz (a constant JSON body) with pages.lua's headers, no cookie.
request = function()
  return wrk.format("GET", "/healthz", {["User-Agent"] = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 Safari/605.1.15",
                                         ["Accept-Language"] = "de-CH,de;q=0.9,en;q=0.5"})
end
