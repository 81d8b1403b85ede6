/**
 * Concurrency in Lua (mirror of ../../algorithms/concurrency.ts). A sorted set of lease ids scored
 * by expiry; expired leases (a sidecar that died, a lost release) are removed on every evaluation.
 * TTL: the rule's timeout after the newest lease.
 */
export const CONCURRENCY_LUA = `
ALG.cc = {
  keys = 1,
  eval = function(c, now)
    call('ZREMRANGEBYSCORE', c.key, '-inf', now)
    local n = call('ZCARD', c.key)
    if n + 1 <= c.limit then return admit(c, c.limit - n - 1, 0) end
    reject(c, c.limit - n, 1000)
  end,
  consume = function(c, now, admitted)
    if not admitted then return end
    call('ZADD', c.key, now + c.W, c.extra)
    call('PEXPIRE', c.key, c.W + 1 + SLACK)
  end,
  refund = function(c, at)
    call('ZREM', c.key, c.extra)
  end,
}
`;
