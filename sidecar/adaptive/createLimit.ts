/** The policy's `upstream.adaptiveConcurrency` → a windowed strategy object. */
import type { AdaptiveConcurrency } from '../../models/policy/index.js';
import { AimdLimit } from './aimdLimit.js';
import { Gradient2Limit } from './gradient2Limit.js';
import type { ConcurrencyLimit } from './limit.js';
import { VegasLimit } from './vegasLimit.js';
import { WindowedLimit, type WindowOptions } from './windowedLimit.js';

export function createLimit(config: AdaptiveConcurrency, window: WindowOptions = {}): WindowedLimit {
  const bounds = { minLimit: config.minLimit, maxLimit: config.maxLimit, initialLimit: config.initialLimit };
  let inner: ConcurrencyLimit;
  switch (config.strategy) {
    case 'aimd':
      inner = new AimdLimit(bounds);
      break;
    case 'vegas':
      inner = new VegasLimit(bounds);
      break;
    case 'gradient2':
      inner = new Gradient2Limit(bounds);
      break;
  }
  return new WindowedLimit(inner, window);
}
