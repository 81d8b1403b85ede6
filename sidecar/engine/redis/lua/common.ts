/**
 * Lua shared by every script: number formatting and result helpers that mirror
 * ../../algorithms/algorithm.ts (admit / reject), so Redis and memory answer identically.
 *
 * Whole numbers go to Redis as Lua numbers (converted exactly below 1e14); fractional ones with
 * %.17g — Redis would otherwise use %.14g and round fractional tokens (999.999999999999 → 1000).
 * TTLs are computed in script time; with an injected time (tests only) they get an hour of SLACK.
 */
export const COMMON_LUA = `
local floor, ceil, tonumber, call = math.floor, math.ceil, tonumber, redis.call
-- added to every TTL when the caller injects the time (tests): Redis expires keys in real time, and
-- an injected clock may run slower than real time
local SLACK = 0
local function num(x)
  if x == floor(x) and x > -1e14 and x < 1e14 then return x end
  return string.format('%.17g', x)
end
-- float rounding tolerated, in units (EPSILON in ../../algorithms/algorithm.ts)
local EPS = 1e-9
-- the largest remaining reported (MAX_REMAINING in ../../algorithms/algorithm.ts): the reply packs
-- status + 4 x remaining, exact only below 2^53
local MAXR = 1125899906842624
-- the longest reset or wait reported (MAX_MS in ../../algorithms/algorithm.ts): the reply converts
-- numbers to 64-bit integers, and a time beyond 2^63 ms came back as -2^63
local MAXMS = 1125899906842624
local function admit(c, remaining, reset)
  c.status = 1
  if remaining > 0 then c.remaining = math.min(floor(remaining + EPS), MAXR) else c.remaining = 0 end
  if reset > 0 then c.reset = math.min(ceil(reset), MAXMS) else c.reset = 0 end
  c.wait = 0
end
local function reject(c, remaining, wait)
  c.status = 0
  if remaining > 0 then c.remaining = math.min(floor(remaining), MAXR) else c.remaining = 0 end
  local w = ceil(wait)
  if w < 1 then w = 1 end
  if w > MAXMS then w = MAXMS end
  c.wait = w
  c.reset = w
end
local ALG = {}
`;
