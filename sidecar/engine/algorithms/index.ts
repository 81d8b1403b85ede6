import type { Algorithm } from '../../../models/policy/index.js';
import type { LocalAlgorithm } from './algorithm.js';
import { fixedWindow } from './fixedWindow.js';
import { slidingWindowLog } from './slidingWindowLog.js';
import { slidingWindowCounter } from './slidingWindowCounter.js';
import { tokenBucket } from './tokenBucket.js';
import { leakyBucket } from './leakyBucket.js';
import { concurrency } from './concurrency.js';

export * from './algorithm.js';
export { fixedWindow, slidingWindowLog, slidingWindowCounter, tokenBucket, leakyBucket, concurrency };

/** The algorithm of each policy name. */
export const ALGORITHM_IMPLS: Readonly<Record<Algorithm, LocalAlgorithm<unknown>>> = {
  'fixed-window': fixedWindow as LocalAlgorithm<unknown>,
  'sliding-window-log': slidingWindowLog as LocalAlgorithm<unknown>,
  'sliding-window-counter': slidingWindowCounter as LocalAlgorithm<unknown>,
  'token-bucket': tokenBucket as LocalAlgorithm<unknown>,
  'leaky-bucket': leakyBucket as LocalAlgorithm<unknown>,
  concurrency: concurrency as LocalAlgorithm<unknown>,
};
