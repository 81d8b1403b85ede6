/**
 * Lua shared by every script: number formatting and result helpers that mirror
 * ../../algorithms/algorithm.ts (admit / reject), so Redis and memory answer identically.
 *
 * Numbers are written with %.17g: Redis would otherwise convert Lua numbers with %.14g and round
 * fractional tokens (e.g. 999.999999999999 would be stored as 1000).
 */
export const COMMON_LUA = `
local function num(x) return string.format('%.17g', x) end
local function admit(c, remaining, reset)
  c.status = 1
  if remaining > 0 then c.remaining = math.floor(remaining + 1e-9) else c.remaining = 0 end
  if reset > 0 then c.reset = math.ceil(reset) else c.reset = 0 end
  c.wait = 0
end
local function reject(c, remaining, wait)
  c.status = 0
  if remaining > 0 then c.remaining = math.floor(remaining) else c.remaining = 0 end
  c.wait = math.max(1, math.ceil(wait))
  c.reset = c.wait
end
local ALG = {}
`;
