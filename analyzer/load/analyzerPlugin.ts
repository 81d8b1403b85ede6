/**
 * Plugging the load loop into the analyzer service (analyzer/server.ts) without touching its
 * pipeline: `tap` wraps the EventSource so each batch also reaches the loop (before the analyzer's
 * own handler; numbers only, a throwing tap is counted in `ratewarden_load_tap_errors_total`, never
 * breaks ingestion), and `plugin` starts the loop on the analyzer's control plane, metrics registry,
 * policy and logger, and stops it when the analyzer closes.
 *
 *   const load = loadControl();
 *   await startAnalyzer({ ..., source: load.tap(source), plugins: [load.plugin, ...] });
 *   getLoad(load.loop());   // the UI's load page
 */
import type { EventSource } from '../../models/eventBus.js';
import type { CallEvent } from '../../models/events.js';
import type { AnalyzerPlugin } from '../server.js';
import { LoadControlLoop, type LoadControlOptions } from './loadControlLoop.js';
import { loadMetrics } from './metrics.js';

export interface LoadControlHandle {
  /** The EventSource with the loop's tap on it. */
  tap(source: EventSource): EventSource;
  readonly plugin: AnalyzerPlugin;
  /** The running loop (null before the analyzer started it). */
  loop(): LoadControlLoop | null;
  /** Taps that threw (a bug; ingestion went on). */
  readonly tapErrors: number;
}

/** Wraps a source so `observe` sees every batch first. */
export function tapEvents(source: EventSource, observe: (events: readonly CallEvent[]) => void, onError: (err: Error) => void = () => undefined): EventSource {
  return {
    run: (handler, onBad) =>
      source.run((events, meta) => {
        try {
          observe(events);
        } catch (err) {
          onError(err as Error);
        }
        return handler(events, meta);
      }, onBad),
    stop: () => source.stop(),
  };
}

export function loadControl(extra: Partial<Pick<LoadControlOptions, 'controller' | 'historySize' | 'fetchText' | 'clock'>> = {}): LoadControlHandle {
  let loop: LoadControlLoop | null = null;
  let tapErrors = 0;
  // set when the plugin runs (the tap can only throw inside loop.observe, i.e. once it has)
  let countTapError: (() => void) | null = null;
  const handle: LoadControlHandle = {
    tap: (source) =>
      tapEvents(
        source,
        (events) => loop?.observe(events),
        () => {
          tapErrors++;
          countTapError?.();
        },
      ),
    plugin: async (app, state) => {
      const counter = loadMetrics(state.metrics.registry).tapErrors;
      countTapError = () => counter.inc();
      loop = new LoadControlLoop({
        ...extra,
        policy: state.policy(),
        plane: state.controlPlane,
        registry: state.metrics.registry,
        log: (level, msg, fields) => app.log[level](fields ?? {}, msg),
      });
      const l = loop;
      app.addHook('onClose', async () => l.stop());
      await l.start();
      if (l.enabled) app.log.info({ strategy: state.policy().analyzer.load!.strategy, intervalMs: state.policy().analyzer.load!.intervalMs, ttlMs: l.ttlMs }, 'load control on');
    },
    loop: () => loop,
    get tapErrors() {
      return tapErrors;
    },
  };
  return handle;
}
