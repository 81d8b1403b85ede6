/**
 * The two per-request metric kinds, without prom-client's per-observation cost (a label-hash and
 * a closure on every `observe`): plain arrays updated in place, turned into prom-client's export
 * shape only when /metrics is scraped. They register in the same prom-client Registry, so the
 * exposition (names, HELP/TYPE lines, label escaping) is prom-client's own.
 */
import type { Registry } from 'prom-client';

interface MetricValue {
  readonly labels: Record<string, string | number>;
  readonly value: number;
  readonly metricName?: string;
}

interface Exported {
  readonly name: string;
  readonly help: string;
  readonly type: 'histogram' | 'counter';
  readonly values: MetricValue[];
  readonly aggregator: 'sum';
}

/** An unlabelled histogram with fixed upper bounds (seconds). */
export class FastHistogram {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  private readonly counts: Float64Array;
  private sum = 0;
  private count = 0;

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly bounds: readonly number[],
    registry: Registry,
  ) {
    this.counts = new Float64Array(bounds.length);
    registry.registerMetric(this as never);
  }

  observe(value: number): void {
    const b = this.bounds;
    for (let i = 0; i < b.length; i++) {
      if (value <= b[i]!) {
        this.counts[i]!++;
        break;
      }
    }
    this.sum += value;
    this.count++;
  }

  async get(): Promise<Exported> {
    const values: MetricValue[] = [];
    let cumulative = 0;
    for (let i = 0; i < this.bounds.length; i++) {
      cumulative += this.counts[i]!;
      values.push({ labels: { le: this.bounds[i]! }, value: cumulative, metricName: `${this.name}_bucket` });
    }
    values.push({ labels: { le: '+Inf' }, value: this.count, metricName: `${this.name}_bucket` });
    values.push({ labels: {}, value: this.sum, metricName: `${this.name}_sum` });
    values.push({ labels: {}, value: this.count, metricName: `${this.name}_count` });
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator };
  }

  reset(): void {
    this.counts.fill(0);
    this.sum = 0;
    this.count = 0;
  }
}

/** A counter with a small, bounded set of label combinations (rule × decision). */
export class FastCounter<L extends string> {
  readonly type = 'counter';
  readonly aggregator = 'sum';
  private readonly cells = new Map<string, { labels: Record<L, string>; value: number }>();

  constructor(
    readonly name: string,
    readonly help: string,
    registry: Registry,
  ) {
    registry.registerMetric(this as never);
  }

  /** `key` identifies the label combination; `labels` is only read the first time it is seen. */
  inc(key: string, labels: () => Record<L, string>, by = 1): void {
    let cell = this.cells.get(key);
    if (cell === undefined) {
      cell = { labels: labels(), value: 0 };
      this.cells.set(key, cell);
    }
    cell.value += by;
  }

  value(key: string): number {
    return this.cells.get(key)?.value ?? 0;
  }

  async get(): Promise<Exported> {
    return { name: this.name, help: this.help, type: this.type, values: [...this.cells.values()].map((c) => ({ labels: c.labels, value: c.value })), aggregator: this.aggregator };
  }

  reset(): void {
    this.cells.clear();
  }
}
