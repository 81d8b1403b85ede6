/**
 * Leaky bucket (GCRA) in Lua (mirror of ../../algorithms/leakyBucket.ts). One string: the
 * theoretical arrival time; TTL: until it has passed (no state = an empty bucket).
 */
export const LEAKY_BUCKET_LUA = `
local TAT_ROUNDING = 1.4210854715202004e-14
ALG.lb = {
  keys = 1,
  eval = function(c, now)
    if c.limit <= 0 then return reject(c, 0, c.W) end
    local T = c.W / c.limit
    local cap = c.burst * T
    local st = tonumber(call('GET', c.key))
    local tat = now
    if st and st > now then tat = st end
    -- on the backlog, not on epoch times, with the same tolerance as the TypeScript (see there)
    local backlog = tat - now
    local after = backlog + c.cost * T
    c.T, c.cap, c.tat, c.nxt = T, cap, tat, tat + c.cost * T
    local over = after - cap
    local rounding = TAT_ROUNDING * now
    local tolerance = EPS * T + rounding
    if over <= tolerance then return admit(c, (cap + rounding - after) / T, after) end
    local maxDelay = 0
    if c.R.queue then maxDelay = c.R.maxDelay end
    c.maxd = maxDelay
    if c.cost > c.burst + maxDelay / T then return reject(c, (cap - backlog) / T, cap) end
    if over <= maxDelay then
      c.status = 2
      c.remaining = 0
      c.wait = ceil(over)
      c.reset = ceil(after)
      return
    end
    reject(c, (cap - backlog) / T, over - math.max(maxDelay, tolerance))
  end,
  consume = function(c, now, admitted)
    if c.limit <= 0 then return end
    local n = c.nxt
    if not admitted then n = math.max(c.tat, math.min(n, now + c.cap + (c.maxd or 0))) end
    call('SET', c.key, num(n), 'PX', ceil(n - now) + 1 + SLACK)
  end,
  refund = function(c, at)
    local st = tonumber(call('GET', c.key))
    if st then call('SET', c.key, num(st - c.cost * (c.W / c.limit)), 'KEEPTTL') end
  end,
}
`;
