import { createHash } from 'node:crypto';
import { COMMON_LUA } from '../../sidecar/engine/redis/lua/common.js';
import { TOKEN_BUCKET_LUA } from '../../sidecar/engine/redis/lua/tokenBucket.js';

/**
 * The engine's token-bucket Lua behind a one-decision-per-call driver, for the redis-benchmark
 * ceiling ("EVALSHA of a token-bucket script"): what a design that makes one script call per
 * decision could at best reach. ARGV: limit, windowMs, burst, cost; reply: status, remaining,
 * resetMs, waitMs.
 */
const DRIVER = `
local t = call('TIME')
local now = tonumber(t[1]) * 1000 + floor(tonumber(t[2]) / 1000)
local c = { R = false, key = KEYS[1], limit = tonumber(ARGV[1]), W = tonumber(ARGV[2]), burst = tonumber(ARGV[3]),
            cost = tonumber(ARGV[4]), status = 0, remaining = 0, reset = 0, wait = 0, t = 0, ts = 0, perMs = 0, x = 0 }
ALG.tb.eval(c, now)
if c.status ~= 0 then ALG.tb.consume(c, now, true) end
return { c.status, c.remaining, c.reset, c.wait }
`;

export const SINGLE_DECISION_TOKEN_BUCKET = (() => {
  const source = COMMON_LUA + TOKEN_BUCKET_LUA + DRIVER;
  return { source, sha: createHash('sha1').update(source).digest('hex') };
})();
