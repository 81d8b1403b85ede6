/**
 * Token bucket in Lua (mirror of ../../algorithms/tokenBucket.ts). Hash {t: tokens, ts: when,
 * x: the expiry last set}. TTL: at least until the bucket would be full again (no state = a full
 * bucket); it is extended (with 1 s to spare) only when the stored expiry would come too early, so
 * a busy key costs two commands per decision, not three.
 */
export const TOKEN_BUCKET_LUA = `
local function tb_level(c, now)
  local s = call('HMGET', c.key, 't', 'ts', 'x')
  local perMs = c.limit / c.W
  c.perMs = perMs
  c.x = tonumber(s[3]) or 0
  if not s[1] then
    c.ts = now
    return c.burst
  end
  local ts = tonumber(s[2])
  local elapsed = 0
  if now > ts then
    elapsed = now - ts
    c.ts = now
  else
    c.ts = ts
  end
  local t = tonumber(s[1]) + elapsed * perMs
  if t < c.burst then return t end
  return c.burst
end
local function tb_write(c, now, nt)
  local need = ceil((c.burst - nt) / c.perMs) + 1
  if c.x < now + need then
    local x = now + need + 1000
    call('HSET', c.key, 't', num(nt), 'ts', c.ts, 'x', x)
    call('PEXPIRE', c.key, x - now + SLACK)
  else
    call('HSET', c.key, 't', num(nt), 'ts', c.ts)
  end
end
ALG.tb = {
  keys = 1,
  eval = function(c, now)
    if c.limit <= 0 then return reject(c, 0, c.W) end
    local t = tb_level(c, now)
    c.t = t
    local perMs = c.perMs
    if t + EPS >= c.cost then return admit(c, t - c.cost, (c.burst - t + c.cost) / perMs) end
    if c.cost > c.burst then return reject(c, t, c.burst / perMs) end
    reject(c, t, (c.cost - EPS - t) / perMs)
  end,
  consume = function(c, now, admitted)
    if c.limit <= 0 then return end
    local nt = c.t - c.cost
    if (not admitted) and nt < 0 then nt = 0 end
    tb_write(c, now, nt)
  end,
  refund = function(c, at)
    local t = tonumber(call('HGET', c.key, 't'))
    if t then call('HSET', c.key, 't', num(math.min(c.burst, t + c.cost))) end
  end,
  -- global-leased: take up to c.cost whole tokens for a sidecar to spend locally
  lease = function(c, now)
    if c.limit <= 0 then return reject(c, 0, c.W) end
    local t = tb_level(c, now)
    local g = math.min(c.cost, floor(t + EPS))
    if g < 1 then return reject(c, 0, (1 - t) / c.perMs) end
    local nt = t - g
    tb_write(c, now, nt)
    c.status = 1
    c.remaining = g
    c.reset = math.min(ceil((c.burst - nt) / c.perMs), MAXMS)
    c.wait = floor(nt)
  end,
}
`;
