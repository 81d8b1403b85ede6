/**
 * The OperatorBackend of the real analyzer: reports from its ReportStore (Redis or memory), blocks
 * and overrides through its Actuator / ControlPlane, series and baselines from its per-client state,
 * and the load multiplier history from the control plane (LoadHistory) or the load controller.
 *
 * Operator decisions are claimed on the report first — `ReportStore.transition` is atomic and
 * conditional on the status we saw, so two operators (or an operator and the analyzer) cannot both
 * win — and only then carried out on the control plane. An approve whose write fails is rolled
 * back to pending with the failure in the history.
 */
import type { AnomalyAction, AnomalyReport, AnomalyStatus, HistoryEntry } from '../../models/anomaly.js';
import { overrideField } from '../../models/control.js';
import type { ControlPlane } from '../../models/controlPlane.js';
import { describeLifted, liftAnomaly, type LiftedAction } from '../actions/actuator.js';
import {
  OperatorError,
  type AnomalyEvidence,
  type AnomalyPage,
  type AnomalyQuery,
  type ClientView,
  type LoadPoint,
  type LoadView,
  type OperatorAction,
  type OperatorBackend,
  type Series,
} from './backend.js';
import { PlaneOperations } from './planeOperations.js';
import { cleanNote, transition } from './transitions.js';

/**
 * The parts of the analyzer's ReportStore (analyzer/reports/store.ts) used here, written out so
 * this adapter depends on the store's contract, not on its module: RedisReportStore and
 * MemoryReportStore satisfy it as they are.
 */
export interface ReportStoreLike {
  list(query: { status?: AnomalyStatus; client?: string; since?: number; limit?: number; cursor?: string }): Promise<{ readonly items: readonly AnomalyReport[]; readonly next: string | null }>;
  get(id: string): Promise<AnomalyReport | null>;
  /** Atomically: only if the status is one of `from`, set `to`/`action`, append `entry`. */
  transition(
    id: string,
    change: { readonly to?: AnomalyStatus; readonly from?: readonly AnomalyStatus[]; readonly action?: AnomalyAction; readonly entry: HistoryEntry },
  ): Promise<{ readonly ok: true; readonly report: AnomalyReport } | { readonly ok: false; readonly reason: 'not_found' } | { readonly ok: false; readonly reason: 'conflict'; readonly report: AnomalyReport }>;
}

/** The part of the analyzer's Actuator (analyzer/actions/actuator.ts) used to apply an approved action. */
export interface ActuatorLike {
  apply(client: string, req: { kind: 'tighten' | 'block'; multiplier?: number; ttlMs: number }, now: number, reason: string, anomalyId?: string): Promise<unknown>;
  /** Lifts everything anomaly `anomalyId` put in place and forgets what of it the actuator wrote (Actuator.lift). */
  lift?(anomalyId: string, now?: number): Promise<LiftedAction[]>;
}

export interface AnalyzerBackendParts {
  readonly reports: ReportStoreLike;
  readonly plane: ControlPlane;
  /** When given, actions are applied and lifted through it (it also expires what it wrote). */
  readonly actuator?: ActuatorLike;
  readonly now?: () => number;
  /** Default TTL of an approved action whose report carries none. */
  readonly defaultTtlMs?: number;
  /**
   * Called after an operator decision took effect, so the analyzer's own decision state follows it
   * (a dismissed client is not acted on again during the cool-down; an approved action is in force).
   */
  readonly onDecision?: (report: AnomalyReport, action: OperatorAction) => void | Promise<void>;
  /** The client's series around `at` (the analyzer's recent windows), when it still holds them. */
  readonly seriesOf?: (client: string, at: number) => Series | null;
  readonly clientOf?: (client: string) => ClientView | null;
  /** Multiplier history (LoadHistory follows the control plane; a load controller may keep its own). */
  readonly loadHistory?: { list(): readonly LoadPoint[] };
  /** The policy's identity.ipv6Prefix (operator-written `ip:` keys take the sidecars' form; default 64). */
  readonly ipv6Prefix?: () => number;
  /**
   * The analyzer's report publisher (topic `ratewarden.anomalies`): reports are published after
   * every change, operator decisions and audited unblocks included.
   */
  readonly publisher?: { publish(report: AnomalyReport): void } | null;
}

export class AnalyzerBackend extends PlaneOperations implements OperatorBackend {
  private readonly now: () => number;

  constructor(private readonly parts: AnalyzerBackendParts) {
    super(parts.plane, parts.ipv6Prefix);
    this.now = parts.now ?? Date.now;
  }

  async listAnomalies(query: AnomalyQuery): Promise<AnomalyPage> {
    const page = await this.parts.reports.list({
      limit: query.limit,
      ...(query.status ? { status: query.status } : {}),
      ...(query.client ? { client: query.client } : {}),
      ...(query.since !== undefined ? { since: query.since } : {}),
      ...(query.cursor ? { cursor: query.cursor } : {}),
    });
    return { items: page.items, next: page.next };
  }

  async getAnomaly(id: string): Promise<{ report: AnomalyReport; evidence: AnomalyEvidence } | null> {
    const report = await this.parts.reports.get(id);
    if (!report) return null;
    return { report, evidence: { features: report.explanation, series: this.parts.seriesOf?.(report.client, report.ts) ?? null } };
  }

  async act(id: string, action: OperatorAction, who: string, note?: string): Promise<AnomalyReport> {
    const { reports } = this.parts;
    const report = await reports.get(id);
    if (!report) throw new OperatorError('not_found', `no anomaly ${id}`);
    const ts = this.now();
    const t = transition(report, action, who, ts, cleanNote(note));
    if (!t.ok) throw new OperatorError('conflict', t.reason);

    let nextAction = report.action;
    if (t.effect === 'apply') {
      const ttlMs = report.action.ttlMs ?? this.parts.defaultTtlMs ?? 600_000;
      nextAction = { ...report.action, ttlMs, until: ts + ttlMs, applied: true };
    }
    const claimed = await reports.transition(id, { to: t.status, from: [report.status], action: nextAction, entry: t.entry });
    if (!claimed.ok) {
      if (claimed.reason === 'not_found') throw new OperatorError('not_found', `no anomaly ${id}`);
      throw new OperatorError('conflict', `the anomaly changed meanwhile: it is ${claimed.report.status} now`);
    }
    let updated = claimed.report;

    if (t.effect === 'apply') {
      try {
        await this.apply(report, nextAction.until!, ts);
      } catch (err) {
        await reports.transition(id, { to: report.status, from: [t.status], action: report.action, entry: { ts: this.now(), who: 'analyzer', what: 'apply failed', note: String((err as Error).message).slice(0, 500) } });
        throw new OperatorError('unavailable', `the action could not be written to the control plane: ${(err as Error).message}`);
      }
      // another operator may have dismissed the report while the write was in flight: its lift ran
      // before the write landed, so lift again (a dismissal that claims after this read lifts by itself)
      const latest = await reports.get(id);
      if (latest) updated = latest;
      if (latest?.status === 'dismissed') {
        const lifted = await this.lift(latest);
        if (lifted) {
          const r = await reports.transition(id, { entry: { ts: this.now(), who: 'analyzer', what: lifted, note: 'dismissed while the approved action was being written' } });
          if (r.ok) updated = r.report;
        }
      }
    } else if (t.effect === 'lift') {
      let lifted: string | null;
      try {
        lifted = await this.lift(report);
      } catch (err) {
        // never a dismissed report whose block is still in force: back to where it was, retryable
        await reports.transition(id, { to: report.status, from: [t.status], action: report.action, entry: { ts: this.now(), who: 'analyzer', what: 'lift failed', note: String((err as Error).message).slice(0, 500) } });
        throw new OperatorError('unavailable', `the block/override could not be lifted on the control plane: ${(err as Error).message}`);
      }
      if (lifted) {
        const r = await reports.transition(id, { entry: { ts, who, what: lifted } });
        if (r.ok) updated = r.report;
      }
    }
    this.parts.publisher?.publish(updated);
    await this.parts.onDecision?.(updated, action);
    return updated;
  }

  async getLoad(): Promise<LoadView> {
    const state = await this.plane.read();
    const services = [...state.load].map(([service, v]) => ({ service, ...v }));
    const history = this.parts.loadHistory?.list() ?? services.map((s) => ({ ts: s.since, service: s.service, multiplier: s.multiplier, reason: s.reason }));
    return { services, history: [...history] };
  }

  async getClient(client: string): Promise<ClientView | null> {
    const view = this.parts.clientOf?.(client) ?? null;
    if (view) return view;
    const series = this.parts.seriesOf?.(client, this.now()) ?? null;
    return series ? { client, baseline: null, series } : null;
  }

  /** Appends to a report's history without changing its status (a missing report is fine: it may have aged out). */
  protected async audit(id: string, who: string, what: string, note?: string): Promise<void> {
    const cleaned = cleanNote(note);
    const r = await this.parts.reports.transition(id, { entry: { ts: this.now(), who, what, ...(cleaned ? { note: cleaned } : {}) } });
    if (r.ok) this.parts.publisher?.publish(r.report);
  }

  private async apply(report: AnomalyReport, until: number, now: number): Promise<void> {
    const kind = report.action.kind;
    if (kind === 'observe') return;
    const reason = `anomaly ${report.id}: ${report.summary}`.slice(0, 512);
    if (this.parts.actuator) {
      await this.parts.actuator.apply(report.client, { kind, ttlMs: until - now, ...(report.action.multiplier !== undefined ? { multiplier: report.action.multiplier } : {}) }, now, reason, report.id);
      return;
    }
    if (kind === 'block') await this.plane.write('block', report.client, { until, reason, anomalyId: report.id });
    else await this.plane.write('override', overrideField('*', report.client), { multiplier: report.action.multiplier ?? 0.5, until, reason, anomalyId: report.id });
  }

  /**
   * Lifts everything this anomaly put in place — never a newer block/override set by another anomaly
   * or an operator. Every kind, not only the report's action: an escalated report's tighten stays
   * in force under its block, and the undo must undo both (liftAnomaly, which the analyzer also
   * uses when a policy reload allowlists the client).
   */
  private async lift(report: AnomalyReport): Promise<string | null> {
    // through the actuator when it has one, so it forgets what it wrote and does not "expire" it later
    const { actuator } = this.parts;
    return describeLifted(actuator?.lift ? await actuator.lift(report.id, this.now()) : await liftAnomaly(this.parts.plane, report.id));
  }
}
