/**
 * AIMD: multiply by `decrease` (default 0.8) on each update past a target, add `recoveryStep` on
 * each update well below them. Blunt and predictable: from 1 to the 0.2 floor in 8 updates.
 */
import type { LoadConfig } from '../../models/policy/index.js';
import { BaseController, type ControllerOptions } from './controller.js';

export class AimdController extends BaseController {
  readonly name = 'aimd';
  private readonly decrease: number;

  constructor(config: LoadConfig, opts: ControllerOptions & { decrease?: number } = {}) {
    super(config, opts);
    this.decrease = opts.decrease ?? 0.8;
    if (!(this.decrease > 0 && this.decrease < 1)) throw new RangeError('decrease must be in (0, 1)');
  }

  protected tightened(m: number): number {
    return m * this.decrease;
  }

  protected recovered(m: number): number {
    return m + this.recoveryStep;
  }
}
