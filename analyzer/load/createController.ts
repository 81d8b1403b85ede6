import type { LoadConfig } from '../../models/policy/index.js';
import { AimdController } from './aimdController.js';
import type { ControllerOptions, LoadController } from './controller.js';
import { GradientController } from './gradientController.js';

/** The controller the policy's `analyzer.load.strategy` names. */
export function createController(config: LoadConfig, opts: ControllerOptions = {}): LoadController {
  return config.strategy === 'gradient' ? new GradientController(config, opts) : new AimdController(config, opts);
}
