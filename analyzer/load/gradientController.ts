/**
 * Gradient: move toward the multiplier that would bring the worst signal back to its target,
 * assuming it scales with admitted load — m × target / observed — by `smoothing` (default 0.5) of
 * the way per update, and never more than halving at once. A slight excess trims a little; a p99 at
 * three times its target cuts hard. Recovery follows the same estimate (m / pressure), capped by
 * `recoveryStep` per update; with no usable signal it creeps up by `recoveryStep`.
 */
import type { LoadConfig } from '../../models/policy/index.js';
import { BaseController, type ControllerOptions } from './controller.js';

export class GradientController extends BaseController {
  readonly name = 'gradient';
  private readonly smoothing: number;

  constructor(config: LoadConfig, opts: ControllerOptions & { smoothing?: number } = {}) {
    super(config, opts);
    this.smoothing = opts.smoothing ?? 0.5;
    if (!(this.smoothing > 0 && this.smoothing <= 1)) throw new RangeError('smoothing must be in (0, 1]');
  }

  protected tightened(m: number, p: number): number {
    const target = m * Math.max(0.5, 1 / p);
    return m + this.smoothing * (target - m);
  }

  protected recovered(m: number, p: number | null): number {
    if (p === null || p <= 0) return m + this.recoveryStep;
    return m + this.smoothing * (m / p - m);
  }
}
