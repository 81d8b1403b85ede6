/**
 * Fixed window in Lua (mirror of ../../algorithms/fixedWindow.ts). Hash {w: window start, c: count};
 * TTL: until the window ends (set when a window's first request is counted).
 */
export const FIXED_WINDOW_LUA = `
ALG.fw = {
  keys = 1,
  eval = function(c, now)
    local w = now - (now % c.W)
    local s = call('HMGET', c.key, 'w', 'c')
    local count = 0
    local sw = tonumber(s[1])
    -- a window up to W later than now's (the clock stepped back) is still the current one (see the TypeScript)
    if sw and sw >= w and sw - now <= c.W then
      w = sw
      count = tonumber(s[2])
    end
    c.w = w
    c.count = count
    local fin = w + c.W - now
    if count + c.cost <= c.limit + EPS then admit(c, c.limit - count - c.cost, fin)
    elseif c.cost > c.limit then reject(c, c.limit - count, c.W)
    else reject(c, c.limit - count, fin) end
  end,
  consume = function(c, now, admitted)
    if c.count == 0 then
      call('HSET', c.key, 'w', c.w, 'c', num(c.cost))
      call('PEXPIRE', c.key, c.w + c.W - now + 1 + SLACK)
    else
      call('HSET', c.key, 'c', num(c.count + c.cost))
    end
  end,
  refund = function(c, at)
    local s = call('HMGET', c.key, 'w', 'c')
    if tonumber(s[1]) == at - (at % c.W) then
      call('HSET', c.key, 'c', num(math.max(0, tonumber(s[2]) - c.cost)))
    end
  end,
}
`;
