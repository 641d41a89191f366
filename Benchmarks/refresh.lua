-- refresh.lua: wrk script for Benchmarks/bench-flows BENCH_MODE=refresh. Each wrk thread first
-- builds FAMILIES refresh-token families with full PKCE flows (GET /authorize, POST /token), then
-- spends every request on one refresh (RFC 6749 §6) of the next family in turn, replacing its
-- token with the rotated one. So a run measures refreshes across many families, each token used
-- once, never the same hot row.
--
-- Environment: TOKEN_PATH, AUTH_PATH, CLIENT_ID, REDIRECT_URI, COOKIE as in the peers' flow.lua;
-- FAMILIES (default 1000 per thread). The summary line is FLOW_RESULT, in flow.lua's format, with
-- flows = refreshes (so run.sh and bench-flows report it unchanged) plus setup_flows and
-- setup_s; flows_per_s divides the refreshes by the time after the setup (whole seconds, as
-- os.time counts them: run 30 s or more so that the rounding stays small).

local VERIFIER  = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
local CHALLENGE = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"   -- RFC 7636 Appendix B

local function env(name, default)
  local v = os.getenv(name)
  if v == nil or v == "" then return default end
  return v
end

local function urlencode(s)
  return (string.gsub(s, "[^%w%-%._~]", function(c) return string.format("%%%02X", string.byte(c)) end))
end

local AUTH_PATH    = env("AUTH_PATH", "/authorize")
local TOKEN_PATH   = env("TOKEN_PATH", "/token")
local CLIENT_ID    = env("CLIENT_ID", "bench-client")
local REDIRECT_URI = env("REDIRECT_URI", "http://127.0.0.1:9999/cb")
local COOKIE       = env("COOKIE", "")
local FAMILIES     = tonumber(env("FAMILIES", "1000"))

local threads = {}
function setup(thread) table.insert(threads, thread) end

function init(args)
  codes, chead, ctail = {}, 1, 0        -- codes waiting for their token request
  tokens, thead, ttail = {}, 1, 0       -- one current refresh token per family, round robin
  auth_sent, code_requests, token_responses = 0, 0, 0
  flows, setup_flows, errors, other = 0, 0, 0, 0
  started, setup_done = os.time(), 0
  local q = "response_type=code&client_id=" .. urlencode(CLIENT_ID) .. "&redirect_uri=" .. urlencode(REDIRECT_URI)
    .. "&state=bench&code_challenge=" .. CHALLENGE .. "&code_challenge_method=S256"
  auth_req = wrk.format("GET", AUTH_PATH .. "?" .. q, COOKIE ~= "" and { ["Cookie"] = COOKIE } or {}, nil)
  form = { ["Content-Type"] = "application/x-www-form-urlencoded" }
  code_prefix = "grant_type=authorization_code&client_id=" .. urlencode(CLIENT_ID) .. "&redirect_uri="
    .. urlencode(REDIRECT_URI) .. "&code_verifier=" .. VERIFIER .. "&code="
  refresh_prefix = "grant_type=refresh_token&client_id=" .. urlencode(CLIENT_ID) .. "&refresh_token="
end

function request()
  if chead <= ctail then
    local code = codes[chead]; codes[chead] = nil; chead = chead + 1
    code_requests = code_requests + 1
    return wrk.format("POST", TOKEN_PATH, form, code_prefix .. urlencode(code))
  end
  if auth_sent < FAMILIES then
    auth_sent = auth_sent + 1
    return auth_req
  end
  if thead <= ttail then
    local token = tokens[thead]; tokens[thead] = nil; thead = thead + 1
    return wrk.format("POST", TOKEN_PATH, form, refresh_prefix .. urlencode(token))
  end
  -- Every family's token is in flight: one more family keeps the connection busy.
  auth_sent = auth_sent + 1
  return auth_req
end

local function urldecode(s)
  s = string.gsub(s, "+", " ")
  return (string.gsub(s, "%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end))
end

function response(status, headers, body)
  if status == 302 or status == 303 then
    local code = string.match(headers["Location"] or headers["location"] or "", "[?&]code=([^&#]+)")
    if code then ctail = ctail + 1; codes[ctail] = urldecode(code) else errors = errors + 1 end
  elseif status == 200 then
    local token = body and string.match(body, '"refresh_token":"([^"]+)"')
    if not (token and string.find(body, "access_token", 1, true)) then other = other + 1; return end
    ttail = ttail + 1; tokens[ttail] = token
    token_responses = token_responses + 1
    -- Requests and responses are not paired per connection here, so refreshes are counted as
    -- token responses beyond the code redemptions sent (at most CONNS in flight at the end).
    setup_flows = math.min(code_requests, token_responses)
    flows = math.max(0, token_responses - code_requests)
    if setup_done == 0 and setup_flows >= FAMILIES then setup_done = os.time() - started end
  else
    errors = errors + 1
  end
end

function done(summary, latency, requests)
  local f, s, e, o, setup_s = 0, 0, 0, 0, 0
  for _, t in ipairs(threads) do
    f = f + t:get("flows"); s = s + t:get("setup_flows"); e = e + t:get("errors"); o = o + t:get("other")
    setup_s = math.max(setup_s, t:get("setup_done"))
  end
  local secs = summary.duration / 1e6
  local refresh_secs = math.max(1, secs - setup_s)
  local se = summary.errors
  io.write(string.format("FLOW_RESULT flows=%d flows_per_s=%.1f requests=%d requests_per_s=%.1f "
    .. "p50_ms=%.2f p90_ms=%.2f p99_ms=%.2f max_ms=%.2f setup_flows=%d setup_s=%d http_4xx5xx=%d other=%d "
    .. "sock_errors=%d duration_s=%.2f\n",
    f, f / refresh_secs, summary.requests, summary.requests / secs,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000, latency.max / 1000,
    s, setup_s, e, o, se.connect + se.read + se.write + se.timeout, secs))
end
