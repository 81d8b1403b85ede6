/**
 * The expected value and spread of each feature for one closed window: the client's own baseline,
 * its tier's population while the client is young (a mixture weighted by history), and for volume
 * features the hour-of-week expectation when the client has history in this hour ("normal for a
 * Tuesday 09:00" may be well above the last half hour).
 */
import { FEATURES, FEATURE_COUNT, F, fromDetectorScale } from '../../models/features.js';
import type { RobustRing } from './robustRing.js';
import type { WindowBaseline } from './windowBaseline.js';
import type { HourOfWeekProfile } from './seasonal.js';

/** Windows a tier's population needs before new clients are compared with it. */
export const MIN_POPULATION_SUPPORT = 32;

export type BaselineSource = 'client' | 'population' | 'blend' | 'none';

export interface Expectation {
  /** Detector scale. NaN where nothing is known. */
  readonly centre: Float64Array;
  readonly sigma: Float64Array;
  /** `centre` in the feature's own units. */
  readonly raw: Float64Array;
  /**
   * What a rule should treat as this client's plausible normal, in the feature's units: the centre
   * for a client with its own history; while it leans on its tier, the share of the tier's busiest
   * normal members (99th percentile) instead of the tier's median — a new client may be a big one.
   */
  readonly ceiling: Float64Array;
  readonly source: BaselineSource;
  /** Weight of the client's own history in [0, 1]. */
  readonly clientWeight: number;
  /** Set when the hour-of-week expectation raised the volume features. */
  readonly seasonal: { readonly bucket: number; readonly shift: number } | null;
}

/** Reusable arrays for expectationFor (the scoring loop computes one expectation at a time). */
export interface ExpectationBuffers {
  readonly centre: Float64Array;
  readonly sigma: Float64Array;
  readonly raw: Float64Array;
  readonly high: Float64Array;
  readonly ceiling: Float64Array;
}

export function expectationBuffers(): ExpectationBuffers {
  return { centre: new Float64Array(FEATURE_COUNT), sigma: new Float64Array(FEATURE_COUNT), raw: new Float64Array(FEATURE_COUNT), high: new Float64Array(FEATURE_COUNT), ceiling: new Float64Array(FEATURE_COUNT) };
}

/**
 * The expectation for one window. With `buffers` the result's arrays are those buffers: valid until
 * the next call with the same buffers.
 */
export function expectationFor(
  client: WindowBaseline,
  population: RobustRing | null,
  seasonal: HourOfWeekProfile | null,
  sizeMs: number,
  windowEnd: number,
  minHistory: number,
  buffers: ExpectationBuffers = expectationBuffers(),
): Expectation {
  const { centre, sigma, raw, high, ceiling } = buffers;
  const w0 = Math.min(1, client.windows / minHistory);
  let usedClient = false;
  let usedPopulation = false;
  for (let i = 0; i < FEATURE_COUNT; i++) {
    const cc = client.centre(i);
    const cs = client.sigma(i);
    // a population says something only once it has enough windows behind it
    const pc = population && population.support[i]! >= MIN_POPULATION_SUPPORT ? population.centre[i]! : NaN;
    const ps = Number.isNaN(pc) ? 0 : population!.sigma[i]!;
    const ph = Number.isNaN(pc) ? NaN : population!.high[i]!;
    let w = Number.isNaN(cc) ? 0 : w0;
    if (Number.isNaN(pc)) w = Number.isNaN(cc) ? 0 : 1;
    if (w === 0 && Number.isNaN(pc)) {
      centre[i] = NaN;
      sigma[i] = NaN;
      raw[i] = NaN;
      high[i] = NaN;
      continue;
    }
    if (w > 0) usedClient = true;
    if (w < 1) usedPopulation = true;
    high[i] = w === 1 ? cc : w === 0 ? ph : w * cc + (1 - w) * ph;
    if (w === 1) {
      centre[i] = cc;
      sigma[i] = cs;
    } else if (w === 0) {
      centre[i] = pc;
      sigma[i] = ps;
    } else {
      // mixture of two distributions: its variance includes the distance between their centres
      centre[i] = w * cc + (1 - w) * pc;
      sigma[i] = Math.sqrt(w * cs * cs + (1 - w) * ps * ps + w * (1 - w) * (cc - pc) ** 2);
    }
  }
  let seasonalInfo: Expectation['seasonal'] = null;
  if (seasonal && !Number.isNaN(centre[F.requests]!)) {
    const expected = seasonal.expected(windowEnd - 1);
    if (expected) {
      const perWindow = sizeMs === 60_000 ? expected.logRate : Math.log1p(Math.expm1(expected.logRate) * (sizeMs / 60_000));
      const shift = perWindow - centre[F.requests]!;
      if (shift > 0) {
        for (let i = 0; i < FEATURE_COUNT; i++) {
          if (!FEATURES[i]!.seasonal || Number.isNaN(centre[i]!)) continue;
          centre[i]! += shift;
          high[i]! += shift;
          sigma[i] = Math.sqrt(sigma[i]! ** 2 + expected.spread ** 2);
        }
        seasonalInfo = { bucket: expected.bucket, shift };
      }
    }
  }
  for (let i = 0; i < FEATURE_COUNT; i++) {
    raw[i] = Number.isNaN(centre[i]!) ? NaN : fromDetectorScale(i, centre[i]!);
    ceiling[i] = Number.isNaN(high[i]!) ? raw[i]! : Math.max(raw[i]!, fromDetectorScale(i, high[i]!));
  }
  const source: BaselineSource = usedClient && usedPopulation ? 'blend' : usedClient ? 'client' : usedPopulation ? 'population' : 'none';
  return { centre, sigma, raw, ceiling, source, clientWeight: usedClient ? w0 : 0, seasonal: seasonalInfo };
}
