/**
 * Sliding window counter in Lua (mirror of ../../algorithms/slidingWindowCounter.ts). Hash
 * {w: current window start, c: its count, p: the previous window's count}; TTL: until the end of
 * the next window (after which both counts are out of the estimate), set when the window rolls.
 */
export const SLIDING_WINDOW_COUNTER_LUA = `
local function swc_read(c, now)
  local W = c.W
  local cw = now - (now % W)
  local s = call('HMGET', c.key, 'w', 'c', 'p')
  local cc, p = 0, 0
  local sw = tonumber(s[1])
  -- a window up to W later than now's (the clock stepped back) is still the current one (see the TypeScript)
  c.same = sw ~= nil and sw >= cw and sw - now <= W
  if c.same then
    cw = sw
    cc = tonumber(s[2])
    p = tonumber(s[3])
  elseif sw == cw - W then
    p = tonumber(s[2])
  end
  c.cw = cw
  c.c = cc
  c.p = p
end
local function swc_write(c, now, count)
  if c.same then
    call('HSET', c.key, 'c', num(count))
  else
    call('HSET', c.key, 'w', c.cw, 'c', num(count), 'p', num(c.p))
    call('PEXPIRE', c.key, c.cw + 2 * c.W - now + 1 + SLACK)
  end
end
ALG.swc = {
  keys = 1,
  eval = function(c, now)
    swc_read(c, now)
    local W, L, cw, cc, p = c.W, c.limit, c.cw, c.c, c.p
    local ahead = 0
    if cw > now then ahead = cw - now end
    local e = now + ahead - cw
    local weighted = p * (W - e)
    if weighted + (cc + c.cost) * W <= L * W + math.min(EPS * W, 0.5) then return admit(c, L - weighted / W - cc - c.cost, cw + W - now) end
    if c.cost > L then return reject(c, L - weighted / W - cc, W) end
    local wait
    if cc + c.cost > L then
      local x = 0
      if cc > 0 then x = math.max(0, ceil(W - ((L - c.cost) * W) / cc)) end
      wait = cw + W - now + x
    else
      wait = ceil(W - ((L - cc - c.cost) * W) / p) - e + ahead
    end
    reject(c, L - weighted / W - cc, wait)
  end,
  consume = function(c, now, admitted)
    swc_write(c, now, c.c + c.cost)
  end,
  refund = function(c, at)
    -- the window that was charged: still current, or rolled into the previous count
    local s = call('HMGET', c.key, 'w', 'c', 'p')
    local charged = at - (at % c.W)
    local w = tonumber(s[1])
    if w == charged then
      call('HSET', c.key, 'c', num(math.max(0, tonumber(s[2]) - c.cost)))
    elseif w == charged + c.W then
      call('HSET', c.key, 'p', num(math.max(0, (tonumber(s[3]) or 0) - c.cost)))
    end
  end,
  -- global-leased: reserve up to c.cost units of the current window for a sidecar to spend locally
  lease = function(c, now)
    swc_read(c, now)
    local W, L, cc, p = c.W, c.limit, c.c, c.p
    local e = now - c.cw
    if e < 0 then e = 0 end
    local g = math.min(c.cost, floor(L - (p * (W - e)) / W - cc + 1e-9))
    if g < 1 then
      c.cost = 1
      return ALG.swc.eval(c, now)
    end
    swc_write(c, now, cc + g)
    c.status = 1
    c.remaining = g
    c.reset = c.cw + W - now
    c.wait = math.max(0, floor(L - (p * (W - e)) / W - cc - g))
  end,
}
`;
