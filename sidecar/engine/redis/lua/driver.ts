/**
 * The batch driver: one script call decides many requests, each atomically over all of its rules
 * (every rule evaluated, then the ones that should count consume — see ../../check.ts
 * shouldConsume). Requests are processed in order, so the call is exactly as if each had been its
 * own script call, without the round trips.
 *
 * ARGV[1] is one msgpack array (see ../msgpack.ts; argument handling was a large part of the cost
 * on both sides), A below, holding:
 *   [1]  time in ms (0 = the Redis server's TIME, the default: sidecars' clocks never matter)
 *   [2]  number of rules R, then per rule: code, windowMs, flags (1 shadow, 2 countRejected,
 *        4 queue, 8 takes a token), maxDelayMs (leaky bucket in queue mode, else 0)
 *   then the number of units, and per unit a header number of checks × 4 + op (any number of checks), op being
 *        0 decide, 1 decide a request already rejected elsewhere (only countRejected rules consume),
 *        2 refund admissions, 3 lease (global-leased: up to `cost` units)
 *   and per check: rule index (1-based), limit, burst, cost, then the token (lease id / log member)
 *        when the rule takes one, then for a refund the time of the admission.
 * KEYS: each check's keys in order (one, or two for sliding-window-log), all under one hash tag per
 *   (rule, key): {<prefix>:<rule>:<key>}:<code>.
 * Reply: { now, then per decided check: status + 4 × remaining, then resetMs (admitted) or waitMs
 *   (rejected, where resetMs = waitMs), then for a queued check (status 2) also waitMs; per leased
 *   check: status, units granted, resetMs, waitMs (for a grant: the shared budget left) }.
 */
export const DRIVER_LUA = `
local A = cmsgpack.unpack(ARGV[1])
local now = A[1]
if now ~= 0 then
  SLACK = 3600000
else
  local t = call('TIME')
  now = tonumber(t[1]) * 1000 + floor(tonumber(t[2]) / 1000)
end
local rules = {}
local a = 3
for r = 1, A[2] do
  local code = A[a]
  local flags = A[a + 2]
  local alg = ALG[code]
  rules[r] = { alg = alg, eval = alg.eval, consume = alg.consume, code = code, W = A[a + 1], shadow = flags % 2 == 1,
               countRejected = flags % 4 >= 2 and code ~= 'cc', queue = flags % 8 >= 4, token = flags >= 8,
               maxDelay = A[a + 3] or 0, keys = alg.keys }
  a = a + 4
end
local out = { now }
local o = 1
local k = 1
-- one table per check position, reused by every unit of the call (a fresh table per check, grown
-- field by field, costs more than the Redis commands themselves)
local pool = {}
local units = A[a]
a = a + 1
for u = 1, units do
  local h = A[a]
  a = a + 1
  local op = h % 4
  local n = (h - op) / 4
  for i = 1, n do
    local c = pool[i]
    if not c then
      c = { R = false, key = false, key2 = false, W = 0, limit = 0, burst = 0, cost = 0, extra = false, at = 0, status = 0,
            remaining = 0, reset = 0, wait = 0, w = 0, count = 0, cw = 0, c = 0, p = 0, same = false, t = 0, ts = 0, perMs = 0,
            x = 0, sum = 0, T = 0, cap = 0, tat = 0, nxt = 0, maxd = 0 }
      pool[i] = c
    end
    local R = rules[A[a]]
    c.R = R
    c.W = R.W
    c.limit, c.burst, c.cost = A[a + 1], A[a + 2], A[a + 3]
    a = a + 4
    if R.token then
      c.extra = A[a]
      a = a + 1
    end
    if op == 2 then
      c.at = A[a]
      a = a + 1
    end
    c.key = KEYS[k]
    if R.keys == 2 then c.key2 = KEYS[k + 1] end
    k = k + R.keys
  end
  if op == 2 then
    for i = 1, n do pool[i].R.alg.refund(pool[i], pool[i].at) end
  elseif op == 3 then
    for i = 1, n do
      local c = pool[i]
      c.R.alg.lease(c, now)
      out[o + 1], out[o + 2], out[o + 3], out[o + 4] = c.status, c.remaining, c.reset, c.wait
      o = o + 4
    end
  else
    local pass = op == 0
    for i = 1, n do
      local c = pool[i]
      c.R.eval(c, now)
      if c.status == 0 and not c.R.shadow then pass = false end
    end
    for i = 1, n do
      local c = pool[i]
      local st = c.status
      if (pass and st ~= 0) or c.R.countRejected then
        c.R.consume(c, now, st ~= 0)
        -- a counted rejection took budget: its wait is measured again on the state it left (see
        -- retryAfterCounted in ../../stores/memoryStore.ts)
        if st == 0 then
          local rem, wait = c.remaining, c.wait
          c.R.eval(c, now)
          if c.status ~= 0 then
            c.remaining = rem
            c.wait = wait
          elseif c.wait < wait then
            c.wait = wait
          end
        end
      end
      out[o + 1] = st + 4 * c.remaining
      if st == 1 then
        out[o + 2] = c.reset
        o = o + 2
      elseif st == 0 then
        out[o + 2] = c.wait
        o = o + 2
      else
        out[o + 2], out[o + 3] = c.reset, c.wait
        o = o + 3
      end
    end
  end
end
return out
`;
