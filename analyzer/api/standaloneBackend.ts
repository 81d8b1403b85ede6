/**
 * An OperatorBackend over a real ControlPlane (Redis or in-memory) and an in-memory report list.
 * It carries out operator decisions itself (transitions.ts), writing blocks and overrides exactly
 * as DESIGN.md says. Used by the API/UI tests on real Redis and to develop the UI; in the analyzer,
 * analyzerBackend.ts serves the same interface over the analyzer's own store and decisions.
 */
import type { AnomalyReport, HistoryEntry } from '../../models/anomaly.js';
import { ANY, overrideField } from '../../models/control.js';
import type { ControlPlane } from '../../models/controlPlane.js';
import {
  OperatorError,
  type AnomalyEvidence,
  type AnomalyPage,
  type AnomalyQuery,
  type ClientView,
  type LoadView,
  type OperatorAction,
  type OperatorBackend,
  type Series,
} from './backend.js';
import { LoadHistory } from './loadHistory.js';
import { MemoryReportList } from './reportList.js';
import { PlaneOperations } from './planeOperations.js';
import { cleanNote, transition } from './transitions.js';
import { appendBounded } from '../reports/store.js';

export interface StandaloneOptions {
  readonly plane: ControlPlane;
  readonly reports?: MemoryReportList;
  readonly now?: () => number;
  /** The client's series around `at` (epoch ms), when known. */
  readonly seriesOf?: (client: string, at: number) => Series | null;
  readonly clientOf?: (client: string) => ClientView | null;
  readonly loadHistory?: LoadHistory;
}

export class StandaloneBackend extends PlaneOperations implements OperatorBackend {
  readonly reports: MemoryReportList;
  private readonly now: () => number;
  private readonly loadHistory: LoadHistory | null;

  constructor(private readonly options: StandaloneOptions) {
    super(options.plane);
    this.reports = options.reports ?? new MemoryReportList();
    this.now = options.now ?? Date.now;
    this.loadHistory = options.loadHistory ?? null;
  }

  async listAnomalies(query: AnomalyQuery): Promise<AnomalyPage> {
    return this.reports.list(query);
  }

  async getAnomaly(id: string): Promise<{ report: AnomalyReport; evidence: AnomalyEvidence } | null> {
    const report = this.reports.get(id);
    if (!report) return null;
    return { report, evidence: { features: report.explanation, series: this.options.seriesOf?.(report.client, report.ts) ?? null } };
  }

  async act(id: string, action: OperatorAction, who: string, note?: string): Promise<AnomalyReport> {
    const report = this.reports.get(id);
    if (!report) throw new OperatorError('not_found', `no anomaly ${id}`);
    const ts = this.now();
    const t = transition(report, action, who, ts, cleanNote(note));
    if (!t.ok) throw new OperatorError('conflict', t.reason);
    // claimed before anything is awaited, so a concurrent decision on the same report sees the new
    // status and gets 409 (the analyzer's backend does the same with ReportStore.transition)
    let nextAction = report.action;
    if (t.effect === 'apply') nextAction = { ...report.action, until: ts + (report.action.ttlMs ?? 600_000), applied: true };
    const claimed: AnomalyReport = { ...withEntry(report, t.entry), status: t.status, action: nextAction };
    this.reports.put(claimed);
    const rollBack = (what: string, err: unknown) => {
      const current = this.reports.get(id);
      if (current && current.status === t.status) this.reports.put({ ...withEntry(current, { ts: this.now(), who: 'analyzer', what, note: String((err as Error).message).slice(0, 500) }), status: report.status, action: report.action });
    };
    if (t.effect === 'apply') {
      try {
        await this.applyAction(report, nextAction.until!);
      } catch (err) {
        rollBack('apply failed', err);
        throw new OperatorError('unavailable', `the action could not be written to the control plane: ${(err as Error).message}`);
      }
    } else if (t.effect === 'lift') {
      let lifted: string | null;
      try {
        lifted = await this.liftAction(report);
      } catch (err) {
        rollBack('lift failed', err);
        throw new OperatorError('unavailable', `the block/override could not be lifted on the control plane: ${(err as Error).message}`);
      }
      if (lifted) {
        const current = this.reports.get(id) ?? claimed;
        this.reports.put(withEntry(current, { ts, who, what: lifted }));
      }
    }
    return this.reports.get(id) ?? claimed;
  }

  async getLoad(): Promise<LoadView> {
    const state = await this.plane.read();
    return {
      services: [...state.load].map(([service, v]) => ({ service, ...v })),
      history: this.loadHistory?.list() ?? [...state.load].map(([service, v]) => ({ ts: v.since, service, multiplier: v.multiplier, reason: v.reason })),
    };
  }

  async getClient(client: string): Promise<ClientView | null> {
    const view = this.options.clientOf?.(client) ?? null;
    if (view) return view;
    const series = this.options.seriesOf?.(client, this.now()) ?? null;
    return series ? { client, baseline: null, series } : null;
  }

  /** Records an operator action on a report without changing its status. */
  protected audit(id: string, who: string, what: string, note?: string): void {
    const report = this.reports.get(id);
    if (!report) return;
    const cleaned = cleanNote(note);
    this.reports.put(withEntry(report, { ts: this.now(), who, what, ...(cleaned ? { note: cleaned } : {}) }));
  }

  private async applyAction(report: AnomalyReport, until: number): Promise<void> {
    const reason = `anomaly ${report.id}: ${report.summary}`.slice(0, 512);
    if (report.action.kind === 'block') await this.plane.write('block', report.client, { until, reason, anomalyId: report.id });
    else if (report.action.kind === 'tighten') await this.plane.write('override', overrideField(ANY, report.client), { multiplier: report.action.multiplier ?? 0.2, until, reason, anomalyId: report.id });
  }

  /** Lifts what this anomaly put in place — never a newer block/override another anomaly or an operator set. */
  private async liftAction(report: AnomalyReport): Promise<string | null> {
    const state = await this.plane.read();
    if (report.action.kind === 'block') {
      if (state.blocks.get(report.client)?.anomalyId !== report.id) return null;
      await this.plane.write('block', report.client, null);
      return 'unblocked';
    }
    let lifted = false;
    for (const [field, v] of state.overrides) {
      if (v.anomalyId !== report.id) continue;
      await this.plane.write('override', field, null);
      lifted = true;
    }
    return lifted ? 'override removed' : null;
  }
}

/** The report with `entry` appended to its history, bounded as the report stores bound it. */
function withEntry(report: AnomalyReport, entry: HistoryEntry): AnomalyReport {
  const { history, dropped } = appendBounded(report.history, entry);
  return { ...report, history, ...(dropped > 0 ? { historyDropped: (report.historyDropped ?? 0) + dropped } : {}) };
}
