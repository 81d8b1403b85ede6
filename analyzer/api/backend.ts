/**
 * What the operator API needs from the analyzer, and nothing more. The HTTP layer (plugin.ts)
 * speaks only to this interface, so it is tested on a small backend over the real control plane
 * (standaloneBackend.ts) and served in production by an adapter over the analyzer's report store
 * and decisions (analyzerBackend.ts).
 */
import type { AnomalyReport, AnomalyStatus, Explanation } from '../../models/anomaly.js';
import type { BlockValue, LoadValue, OverrideValue } from '../../models/control.js';

export const OPERATOR_ACTIONS = ['confirm', 'dismiss', 'approve'] as const;
export type OperatorAction = (typeof OPERATOR_ACTIONS)[number];

export interface AnomalyQuery {
  readonly status?: AnomalyStatus;
  /** Exact client key (`apiKey:9f86d081884c7d65`). */
  readonly client?: string;
  /** Only reports detected at or after this epoch ms. */
  readonly since?: number;
  readonly limit: number;
  /** Opaque cursor from a previous page's `next`. */
  readonly cursor?: string;
}

export interface AnomalyPage {
  /** Newest first. */
  readonly items: readonly AnomalyReport[];
  /** Cursor for the next (older) page, or null at the end. */
  readonly next: string | null;
}

/**
 * A time series in columns (what a chart library draws directly): the client's observed value per
 * step and, where the baseline was known at that step, its centre and spread. The band drawn is
 * mean ± k·spread.
 */
export interface Series {
  /** Feature the values are of, e.g. `requests_10s`. */
  readonly feature: string;
  /** Human unit for the axis, e.g. `req/10s`. */
  readonly unit: string;
  readonly stepMs: number;
  /** Epoch ms per point, ascending. */
  readonly ts: readonly number[];
  readonly value: readonly number[];
  readonly mean: ReadonlyArray<number | null>;
  readonly spread: ReadonlyArray<number | null>;
  /** Of `value`, how many the sidecars answered 429/403 (limited or blocked), when known: shows a block taking effect. */
  readonly limited?: readonly number[];
  /** Width of the band in spreads (the detectors' threshold). */
  readonly k: number;
}

export interface BaselineFeature {
  readonly feature: string;
  readonly mean: number;
  readonly spread: number;
  /** Observations the baseline has learned from. */
  readonly n?: number;
}

export interface ClientBaseline {
  readonly features: readonly BaselineFeature[];
  /** Epoch ms of the last update. */
  readonly updatedAt?: number;
  /** Whether the baseline is still warming up (detectors ignore it). */
  readonly warm?: boolean;
}

export interface AnomalyEvidence {
  /** Features against the baseline (the report's explanation, possibly enriched). */
  readonly features: readonly Explanation[];
  /** The client's series around the anomaly, or null when the analyzer no longer holds it. */
  readonly series: Series | null;
}

export interface ClientView {
  readonly client: string;
  readonly tier?: string;
  readonly baseline: ClientBaseline | null;
  readonly series: Series | null;
}

export interface LoadPoint {
  readonly ts: number;
  readonly service: string;
  readonly multiplier: number;
  readonly reason?: string;
}

export interface LoadView {
  /** Current state per service (`rw:ctl:load`). */
  readonly services: ReadonlyArray<{ readonly service: string } & LoadValue>;
  /** Multiplier changes over time, oldest first (bounded). */
  readonly history: readonly LoadPoint[];
}

export interface BlockInput {
  readonly client: string;
  readonly until: number;
  readonly reason: string;
  readonly anomalyId?: string;
}

export interface OverrideInput {
  readonly rule: string;
  readonly client: string;
  readonly multiplier?: number;
  readonly limit?: number;
  readonly until: number;
  readonly reason: string;
  readonly anomalyId?: string;
}

/** Errors a backend reports; the plugin maps them to HTTP statuses. */
export class OperatorError extends Error {
  constructor(
    readonly kind: 'not_found' | 'conflict' | 'unavailable',
    message: string,
  ) {
    super(message);
    this.name = 'OperatorError';
  }
}

export interface OperatorBackend {
  listAnomalies(query: AnomalyQuery): Promise<AnomalyPage>;
  /** The report and its evidence, or null when unknown. */
  getAnomaly(id: string): Promise<{ report: AnomalyReport; evidence: AnomalyEvidence } | null>;
  /**
   * Applies an operator decision and records it in the report's history (who, when, what, note).
   * confirm: keep the action, status confirmed. dismiss: a false positive — lift its block/override,
   * status dismissed. approve: apply a pending action, status actioned.
   * Throws OperatorError not_found / conflict (the transition is not allowed from the status).
   */
  act(id: string, action: OperatorAction, who: string, note?: string): Promise<AnomalyReport>;

  listBlocks(): Promise<ReadonlyMap<string, BlockValue>>;
  /** Resolves to the control-plane seq of the write. */
  addBlock(input: BlockInput, who: string): Promise<number>;
  /** Lifts a block (an unblock: kind block, value null); false when there was none. */
  removeBlock(client: string, who: string, note?: string): Promise<boolean>;

  /** Keyed by field `<ruleId>|<clientKey>`. */
  listOverrides(): Promise<ReadonlyMap<string, OverrideValue>>;
  addOverride(input: OverrideInput, who: string): Promise<number>;
  removeOverride(rule: string, client: string, who: string, note?: string): Promise<boolean>;

  getLoad(): Promise<LoadView>;
  /** The client key as sidecars form it (`ip:` parts: IPv6 as its network), as blocks and overrides are written. */
  canonicalClient?(client: string): string;
  /** Why a block or override for `client` could never match a request (an `ip:` part that is no address), or null. */
  clientProblem?(client: string): string | null;
  /** Baseline and recent series of a client, or null when the analyzer knows nothing of it. */
  getClient(client: string): Promise<ClientView | null>;
}
