/**
 * Automatic tightening under backend load — the analyzer's slow loop (the sidecar's fast one is
 * sidecar/adaptive). Wiring, in the analyzer's program (analyzerPlugin.ts):
 *
 *   const load = loadControl();
 *   await startAnalyzer({ ..., source: load.tap(source), plugins: [load.plugin, ...] });
 *
 * or by hand:
 *
 *   const loop = new LoadControlLoop({ policy, plane, registry: metrics.registry, log });
 *   await loop.start();                 // resumes multipliers in force, then ticks every interval
 *   loop.observe(events);               // with every batch, beside analyzer.ingest(events)
 *   loop.setPolicy(next);               // on a policy reload
 *   await loop.stop();                  // at shutdown
 *
 * For the operator API and UI (the load page):
 *
 *   getLoad(load.loop()) → {enabled, config, ttlMs, services: [{service, multiplier, tiers, published,
 *                    action, reason, pressure, signals}], history: [{ts, service, multiplier, tiers,
 *                    reason, action}]}
 *   loop.list()   → [{ts, service, multiplier, reason}]  (AnalyzerBackendParts.loadHistory)
 *
 * What is published, when, and the TTL: see loadControlLoop.ts.
 */
import type { LoadControlLoop, LoadSnapshot } from './loadControlLoop.js';

export { LoadControlLoop, loadTtlMs, type LoadControlOptions, type LoadSnapshot, type ServiceLoadView, type PublishedLoad, type LoadLog } from './loadControlLoop.js';
export { LoadWatcher, type LoadSignals, type LoadWatcherOptions } from './loadWatcher.js';
export { LatencySketch } from './latencySketch.js';
export { pressureOf, describePressure, type Pressure, type PressurePart } from './pressure.js';
export { BaseController, type LoadController, type ControlStep, type ControlAction, type ControllerOptions } from './controller.js';
export { AimdController } from './aimdController.js';
export { GradientController } from './gradientController.js';
export { createController } from './createController.js';
export { shedByPriority, admittedShare } from './priorityShedding.js';
export { MultiplierHistory, type LoadHistoryPoint } from './multiplierHistory.js';
export { GaugeScraper, defaultFetchText, type FetchText, type ScrapeResult } from './gaugeScraper.js';
export { parseExposition, parseSampleLine, parseSelector, selectGauge, type PromSample } from './promText.js';
export { loadMetrics, type LoadMetrics } from './metrics.js';

/** The load page's data: current multiplier, tiers, reason and signals per service, and the bounded history. */
export function getLoad(loop: LoadControlLoop | null): LoadSnapshot {
  if (loop === null) return { enabled: false, config: null, ttlMs: 0, services: [], history: [] };
  return loop.getLoad();
}
export { loadControl, tapEvents, type LoadControlHandle } from './analyzerPlugin.js';
