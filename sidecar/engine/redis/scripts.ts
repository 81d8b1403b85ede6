import { createHash } from 'node:crypto';
import { COMMON_LUA } from './lua/common.js';
import { DRIVER_LUA } from './lua/driver.js';
import { FIXED_WINDOW_LUA } from './lua/fixedWindow.js';
import { SLIDING_WINDOW_LOG_LUA } from './lua/slidingWindowLog.js';
import { SLIDING_WINDOW_COUNTER_LUA } from './lua/slidingWindowCounter.js';
import { TOKEN_BUCKET_LUA } from './lua/tokenBucket.js';
import { LEAKY_BUCKET_LUA } from './lua/leakyBucket.js';
import { CONCURRENCY_LUA } from './lua/concurrency.js';

/**
 * One script per algorithm (the algorithm's Lua + the batch driver), plus one holding all six for
 * batches that mix algorithms (a request under several rules of different algorithms is still
 * decided in one atomic call). Each is loaded once per Redis node and called with EVALSHA.
 */
export interface Script {
  readonly name: string;
  readonly source: string;
  readonly sha: string;
}

export const ALGORITHM_LUA: Readonly<Record<string, string>> = {
  fw: FIXED_WINDOW_LUA,
  swl: SLIDING_WINDOW_LOG_LUA,
  swc: SLIDING_WINDOW_COUNTER_LUA,
  tb: TOKEN_BUCKET_LUA,
  lb: LEAKY_BUCKET_LUA,
  cc: CONCURRENCY_LUA,
};

export const ALGORITHM_CODES = Object.keys(ALGORITHM_LUA);

function script(name: string, codes: readonly string[]): Script {
  const source = COMMON_LUA + codes.map((c) => ALGORITHM_LUA[c]).join('') + DRIVER_LUA;
  return { name, source, sha: createHash('sha1').update(source).digest('hex') };
}

/** Per algorithm code, and `all`. */
export const SCRIPTS: Readonly<Record<string, Script>> = Object.fromEntries([
  ...ALGORITHM_CODES.map((code) => [code, script(code, [code])] as const),
  ['all', script('all', ALGORITHM_CODES)] as const,
]);
