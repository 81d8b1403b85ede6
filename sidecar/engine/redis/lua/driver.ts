/**
 * The batch driver: one script call decides many requests, each atomically over all of its rules
 * (every rule evaluated, then the ones that should count consume — see ../../check.ts
 * shouldConsume). Requests are processed in order, so the call is exactly as if each had been its
 * own script call, without the round trips.
 *
 * ARGV[1]  time in ms ('' = the Redis server's TIME, the default: sidecars' clocks never matter)
 * ARGV[2]  number of units; then per unit: op, number of checks, then 7 fields per check.
 *   op 'd' decide:  code, limit, windowMs, burst, cost, flags (1 shadow, 2 countRejected, 4 queue), extra
 *   op 'f' decide a request already rejected elsewhere (only countRejected rules consume): same fields
 *   op 'r' refund an admission made at \`at\`: code, limit, windowMs, burst, cost, token, at
 *   op 'l' lease up to \`cost\` units (global-leased): code, limit, windowMs, burst, want, flags, extra
 *   extra: the lease id / log member (concurrency, sliding-window-log), maxDelay (leaky bucket), or ''.
 * KEYS: each check's keys in order (one, or two for sliding-window-log), all under one hash tag per
 *   (rule, key): {<prefix>:<rule>:<key>}:<code>.
 * Reply: { now, then per 'd'/'f'/'l' check: status, remaining, resetMs, waitMs } ('r' adds nothing).
 *   For a granted lease ('l', status 1): remaining = units granted, waitMs = the shared budget left.
 */
export const DRIVER_LUA = `
local now
if ARGV[1] ~= '' then
  now = tonumber(ARGV[1])
else
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local out = { now }
local o = 1
local a = 3
local k = 1
for u = 1, tonumber(ARGV[2]) do
  local op = ARGV[a]
  local n = tonumber(ARGV[a + 1])
  a = a + 2
  local checks = {}
  for i = 1, n do
    local code = ARGV[a]
    local alg = ALG[code]
    local c = { alg = alg, code = code, key = KEYS[k], limit = tonumber(ARGV[a + 1]), W = tonumber(ARGV[a + 2]),
                burst = tonumber(ARGV[a + 3]), cost = tonumber(ARGV[a + 4]) }
    if alg.keys == 2 then c.key2 = KEYS[k + 1] end
    k = k + alg.keys
    if op == 'r' then
      c.extra = ARGV[a + 5]
      c.at = tonumber(ARGV[a + 6])
    else
      local flags = tonumber(ARGV[a + 5])
      c.shadow = flags % 2 == 1
      c.countRejected = math.floor(flags / 2) % 2 == 1
      c.queue = math.floor(flags / 4) % 2 == 1
      c.extra = ARGV[a + 6]
      if code == 'lb' then c.maxDelay = tonumber(c.extra) or 0 end
    end
    a = a + 7
    checks[i] = c
  end
  if op == 'r' then
    for i = 1, n do checks[i].alg.refund(checks[i], checks[i].at) end
  elseif op == 'l' then
    for i = 1, n do
      local c = checks[i]
      c.alg.lease(c, now)
      out[o + 1], out[o + 2], out[o + 3], out[o + 4] = c.status, c.remaining, c.reset, c.wait
      o = o + 4
    end
  else
    local pass = op == 'd'
    for i = 1, n do
      local c = checks[i]
      c.alg.eval(c, now)
      if c.status == 0 and not c.shadow then pass = false end
    end
    for i = 1, n do
      local c = checks[i]
      if (pass and c.status ~= 0) or (c.countRejected and c.code ~= 'cc') then c.alg.consume(c, now, c.status ~= 0) end
      out[o + 1], out[o + 2], out[o + 3], out[o + 4] = c.status, c.remaining, c.reset, c.wait
      o = o + 4
    end
  end
end
return out
`;
