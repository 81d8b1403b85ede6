/**
 * The load controller's contract: one small interface (`update(signals, now)` → the service's next
 * multiplier in [minMultiplier, 1], and why), with interchangeable strategies chosen by the policy's
 * `analyzer.load.strategy` — AIMD (aimdController.ts) and gradient (gradientController.ts).
 *
 * Shared rules, so strategies differ only in how far they move:
 * - pressure > 1 (a target is exceeded): tighten;
 * - pressure within the hysteresis band (0.9–1): hold — neither tighten nor loosen near the target;
 * - pressure below the band, or no usable signal: recover, but only `recoveryDelayMs` after the last
 *   tightening and by at most `recoveryStep` per update — recovery is gradual by construction, so a
 *   backend that just came back is not hit by all the traffic at once.
 */
import type { LoadConfig } from '../../models/policy/index.js';
import { POLICY_BOUNDS } from '../../models/policy/schema.js';
import type { LoadSignals } from './loadWatcher.js';
import { DEFAULT_MIN_SAMPLES, describePressure, pressureOf, type Pressure } from './pressure.js';

export type ControlAction = 'tighten' | 'recover' | 'hold';

export interface ControlStep {
  readonly multiplier: number;
  readonly action: ControlAction;
  readonly pressure: Pressure;
  /** Human reason: the signals against their targets, e.g. "p99 412ms > target 250ms; 5xx 3.1% > 1.0%". */
  readonly reason: string;
}

export interface LoadController {
  readonly name: 'aimd' | 'gradient';
  readonly multiplier: number;
  update(signals: LoadSignals, now: number): ControlStep;
  /** Starts from a known multiplier (a restart finds one in force). */
  reset(multiplier: number, now: number): void;
}

export interface ControllerOptions {
  /** Forwarded requests a window needs before latency and error signals count (default 20). */
  readonly minSamples?: number;
  /** Below 1 − band the service recovers; within it the multiplier holds (default 0.1). */
  readonly band?: number;
  /** Largest increase per update (default 0.05: from 0.2 to 1 in 16 updates). */
  readonly recoveryStep?: number;
  /** No recovery until this long after the last tightening (default 2 × the policy interval). */
  readonly recoveryDelayMs?: number;
}

export abstract class BaseController implements LoadController {
  abstract readonly name: 'aimd' | 'gradient';
  multiplier = 1;
  protected lastTighten = -Infinity;
  protected readonly min: number;
  protected readonly minSamples: number;
  protected readonly band: number;
  protected readonly recoveryStep: number;
  protected readonly recoveryDelayMs: number;

  constructor(
    protected readonly config: LoadConfig,
    opts: ControllerOptions = {},
  ) {
    // the policy refuses a minMultiplier under 0.001; a config built by hand is held to it too
    this.min = Math.max(POLICY_BOUNDS.minLoadMultiplier, config.minMultiplier);
    this.minSamples = opts.minSamples ?? DEFAULT_MIN_SAMPLES;
    this.band = opts.band ?? 0.1;
    this.recoveryStep = opts.recoveryStep ?? 0.05;
    this.recoveryDelayMs = opts.recoveryDelayMs ?? 2 * config.intervalMs;
  }

  /** The strategy's tightened multiplier for pressure p > 1. */
  protected abstract tightened(m: number, p: number): number;
  /** The strategy's wish when below the band (capped by recoveryStep); p null means no evidence. */
  protected abstract recovered(m: number, p: number | null): number;

  reset(multiplier: number, now: number): void {
    this.multiplier = this.clamp(multiplier);
    if (this.multiplier < 1) this.lastTighten = now;
  }

  update(signals: LoadSignals, now: number): ControlStep {
    // the clock stepped back past the last tightening: the delay counts from now, not from a time
    // the clock may take hours to reach again
    if (this.lastTighten > now) this.lastTighten = now;
    const pressure = pressureOf(signals, this.config, this.minSamples);
    const p = pressure.value;
    const m = this.multiplier;
    let action: ControlAction = 'hold';
    let next = m;
    if (p !== null && p > 1) {
      next = this.clamp(this.tightened(m, p));
      action = next < m ? 'tighten' : 'hold';
      this.lastTighten = now;
    } else if ((p === null || p < 1 - this.band) && m < 1 && now - this.lastTighten >= this.recoveryDelayMs) {
      next = this.clamp(Math.min(m + this.recoveryStep, Math.max(m, this.recovered(m, p))));
      action = next > m ? 'recover' : 'hold';
    }
    this.multiplier = next;
    return { multiplier: next, action, pressure, reason: describePressure(pressure, signals.count) };
  }

  /** Into [min, 1], rounded to 1e-4 and floored again after rounding: never below min, never 0. */
  protected clamp(m: number): number {
    if (!Number.isFinite(m)) return this.min;
    return Math.max(this.min, Math.round(Math.max(this.min, Math.min(1, m)) * 1e4) / 1e4);
  }
}
