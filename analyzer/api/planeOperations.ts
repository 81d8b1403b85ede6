/**
 * Blocks and overrides as the operator API serves them, on a ControlPlane (written exactly as
 * DESIGN.md says); a change tied to an anomaly is audited in its report. Shared by both backends:
 * StandaloneBackend (in-memory reports) and AnalyzerBackend (the analyzer's report store).
 */
import { overrideField, type BlockValue, type OverrideValue } from '../../models/control.js';
import type { ControlPlane } from '../../models/controlPlane.js';
import type { BlockInput, OverrideInput } from './backend.js';

export abstract class PlaneOperations {
  constructor(protected readonly plane: ControlPlane) {}

  /** Records `what` (by `who`, with an optional note) in the history of anomaly `id`. */
  protected abstract audit(id: string, who: string, what: string, note?: string): void | Promise<void>;

  async listBlocks(): Promise<ReadonlyMap<string, BlockValue>> {
    return (await this.plane.read()).blocks;
  }

  async addBlock(input: BlockInput, who: string): Promise<number> {
    const seq = await this.plane.write('block', input.client, { until: input.until, reason: input.reason, ...(input.anomalyId ? { anomalyId: input.anomalyId } : {}) });
    if (input.anomalyId) await this.audit(input.anomalyId, who, 'blocked');
    return seq;
  }

  async removeBlock(client: string, who: string, note?: string): Promise<boolean> {
    const existing = (await this.plane.read()).blocks.get(client);
    if (!existing) return false;
    await this.plane.write('block', client, null);
    if (existing.anomalyId) await this.audit(existing.anomalyId, who, 'unblocked', note);
    return true;
  }

  async listOverrides(): Promise<ReadonlyMap<string, OverrideValue>> {
    return (await this.plane.read()).overrides;
  }

  async addOverride(input: OverrideInput, who: string): Promise<number> {
    const { rule, client, ...value } = input;
    const seq = await this.plane.write('override', overrideField(rule, client), value);
    if (input.anomalyId) await this.audit(input.anomalyId, who, 'overridden');
    return seq;
  }

  async removeOverride(rule: string, client: string, who: string, note?: string): Promise<boolean> {
    const field = overrideField(rule, client);
    const existing = (await this.plane.read()).overrides.get(field);
    if (!existing) return false;
    await this.plane.write('override', field, null);
    if (existing.anomalyId) await this.audit(existing.anomalyId, who, 'override removed', note);
    return true;
  }
}
