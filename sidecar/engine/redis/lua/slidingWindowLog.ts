/**
 * Sliding window log in Lua (mirror of ../../algorithms/slidingWindowLog.ts). Two keys under one
 * hash tag: a sorted set of entries scored by time (member: the request's unique token, with
 * `/cost` appended when the cost is not 1) and a string with the sum of live costs. TTL of both: W
 * after the newest entry.
 */
export const SLIDING_WINDOW_LOG_LUA = `
local function swl_cost(m)
  local p = string.find(m, '/', 1, true)
  if p then return tonumber(string.sub(m, p + 1)) end
  return 1
end
ALG.swl = {
  keys = 2,
  eval = function(c, now)
    local cutoff = now - c.W
    local sum = tonumber(call('GET', c.key2) or '0')
    local expired = call('ZRANGEBYSCORE', c.key, '-inf', cutoff)
    if #expired > 0 then
      for i = 1, #expired do sum = sum - swl_cost(expired[i]) end
      call('ZREMRANGEBYSCORE', c.key, '-inf', cutoff)
      if call('ZCARD', c.key) == 0 then
        sum = 0
        call('DEL', c.key2)
      else
        call('SET', c.key2, num(sum), 'KEEPTTL')
      end
    end
    c.sum = sum
    if sum + c.cost <= c.limit + EPS then return admit(c, c.limit - sum - c.cost, c.W) end
    if c.cost > c.limit then return reject(c, c.limit - sum, c.W) end
    local need = sum + c.cost - c.limit - EPS
    local freed = 0
    local last = now
    local idx = 0
    while freed < need do
      local batch = call('ZRANGE', c.key, idx, idx + 63, 'WITHSCORES')
      if #batch == 0 then break end
      for j = 1, #batch, 2 do
        freed = freed + swl_cost(batch[j])
        last = tonumber(batch[j + 1])
        if freed >= need then break end
      end
      idx = idx + 64
    end
    reject(c, c.limit - sum, last + c.W - now)
  end,
  consume = function(c, now, admitted)
    if (not admitted) and c.sum >= 2 * c.limit then return end
    local member = c.extra
    if c.cost ~= 1 then member = member .. '/' .. num(c.cost) end
    call('ZADD', c.key, now, member)
    call('PEXPIRE', c.key, c.W + 1 + SLACK)
    call('SET', c.key2, num(c.sum + c.cost), 'PX', c.W + 1 + SLACK)
  end,
  refund = function(c, at)
    local member = c.extra
    if c.cost ~= 1 then member = member .. '/' .. num(c.cost) end
    if call('ZREM', c.key, member) == 1 then
      local sum = tonumber(call('GET', c.key2) or '0') - c.cost
      if sum < 0 then sum = 0 end
      call('SET', c.key2, num(sum), 'KEEPTTL')
    end
  end,
}
`;
