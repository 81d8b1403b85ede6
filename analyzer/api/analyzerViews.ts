/**
 * What the operator API shows of the analyzer's per-client state, and how operator decisions flow
 * back into it. Bridges `Analyzer.client(key)` (baselines and recent windows) to the API's Series /
 * ClientView, and `Analyzer.updateDecision` to the decision core (an approved action is in force; a
 * dismissed client is not acted on again for the cool-down).
 *
 * The chart band is the client's *current* baseline (centre ± k·spread): the analyzer keeps recent
 * windows per client, not the baseline as it was at each of them.
 */
import type { AnomalyReport } from '../../models/anomaly.js';
import { approved, dismissed, type DecisionState } from '../decisions/decide.js';
import type { ClientView, OperatorAction, Series } from './backend.js';

/** The parts of `Analyzer` (analyzer/analyzer.ts) used here. */
export interface AnalyzerLike {
  client(key: string): {
    readonly client: string;
    readonly tier: string;
    readonly windows: { readonly '10s': number; readonly '60s': number };
    readonly baseline: Record<'10s' | '60s', ReadonlyArray<{ feature: string; centre: number; spread: number; source: string }>>;
    readonly recent: Record<'10s' | '60s', ReadonlyArray<{ end: number; score: number; features: readonly number[] }>>;
  } | null;
  updateDecision(client: string, update: (state: DecisionState) => DecisionState): void;
  /** Service-wide request-rate series (reports with client `service:<name>`). */
  service?(name: string): { readonly points: ReadonlyArray<{ end: number; requests: number; score: number }> } | null;
}

export interface AnalyzerViewOptions {
  /** Band width in spreads (the statistical detector's threshold). */
  readonly k?: number;
  /** The policy's `analyzer.cooldownMs`: how long a dismissed client is left alone (a function follows policy reloads). */
  readonly cooldownMs: number | (() => number);
  readonly now?: () => number;
}

const SIZES = { '10s': 10_000, '60s': 60_000 } as const;

export function analyzerViews(analyzer: AnalyzerLike, options: AnalyzerViewOptions) {
  const k = options.k ?? 3;
  const now = options.now ?? Date.now;

  const seriesFrom = (view: NonNullable<ReturnType<AnalyzerLike['client']>>, size: '10s' | '60s', feature = 'requests'): Series | null => {
    const baseline = view.baseline[size];
    const index = baseline.findIndex((b) => b.feature === feature);
    const windows = view.recent[size];
    if (index < 0 || windows.length === 0) return null;
    const b = baseline[index]!;
    const limitedIndex = baseline.findIndex((x) => x.feature === 'ratio_limited');
    const mean = Number.isFinite(b.centre) ? b.centre : null;
    const spread = Number.isFinite(b.spread) ? b.spread : null;
    return {
      feature: `${feature}_${size}`,
      unit: `req/${size}`,
      stepMs: SIZES[size],
      ts: windows.map((w) => w.end),
      value: windows.map((w) => w.features[index] ?? 0),
      mean: windows.map(() => mean),
      spread: windows.map(() => spread),
      ...(limitedIndex >= 0 ? { limited: windows.map((w) => Math.round((w.features[index] ?? 0) * (w.features[limitedIndex] ?? 0))) } : {}),
      k,
    };
  };

  /** The client's recent 10 s request counts (60 s when that is all there is); a service's own series for `service:<name>`. */
  const seriesOf = (client: string): Series | null => {
    if (client.startsWith('service:') && analyzer.service) {
      const points = analyzer.service(client.slice('service:'.length))?.points ?? [];
      if (points.length === 0) return null;
      return { feature: 'requests_10s', unit: 'req/10s', stepMs: SIZES['10s'], ts: points.map((p) => p.end), value: points.map((p) => p.requests), mean: points.map(() => null), spread: points.map(() => null), k };
    }
    const view = analyzer.client(client);
    if (!view) return null;
    return seriesFrom(view, '10s') ?? seriesFrom(view, '60s');
  };

  // plain functions (no `this`): callers pass them around detached
  return {
    seriesOf,

    clientOf(client: string): ClientView | null {
      const view = analyzer.client(client);
      if (!view) {
        const series = client.startsWith('service:') ? seriesOf(client) : null;
        return series ? { client, baseline: null, series } : null;
      }
      const features = (['10s', '60s'] as const).flatMap((size) =>
        view.baseline[size].filter((b) => Number.isFinite(b.centre)).map((b) => ({ feature: `${b.feature}_${size}`, mean: b.centre, spread: Number.isFinite(b.spread) ? b.spread : 0, n: view.windows[size] })),
      );
      return { client: view.client, tier: view.tier, baseline: { features }, series: seriesFrom(view, '10s') ?? seriesFrom(view, '60s') };
    },

    /** Feeds an operator decision back into the decision state of the client (if this instance holds it). */
    onDecision(report: AnomalyReport, action: OperatorAction): void {
      const t = now();
      // only the episode of the report acted on changes (an older report's decision leaves the current one)
      if (action === 'dismiss') analyzer.updateDecision(report.client, (s) => dismissed(s, t, typeof options.cooldownMs === 'function' ? options.cooldownMs() : options.cooldownMs, report.id));
      else if (action === 'approve' && report.action.kind !== 'observe') analyzer.updateDecision(report.client, (s) => approved(s, report.action.kind, t, report.action.until ?? t, report.id, typeof options.cooldownMs === 'function' ? options.cooldownMs() : options.cooldownMs));
    },
  };
}
