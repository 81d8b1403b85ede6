/** An Analyzer on in-memory parts with a clock the test moves, and traffic to drive it. */
import { MemoryControlPlane } from '../../../models/controlPlane.js';
import type { CallEvent } from '../../../models/events.js';
import { Analyzer } from '../../../analyzer/analyzer.js';
import type { DetectionOptions } from '../../../analyzer/options.js';
import { MemoryReportStore } from '../../../analyzer/reports/memoryStore.js';
import { MemoryReportPublisher } from '../../../analyzer/reports/publisher.js';
import { T0, ev, policy } from './helpers.js';

export function setupAnalyzer(analyzerYaml: string, warmupMs = 60_000, detection: Partial<DetectionOptions> = {}, plane = new MemoryControlPlane(), reports = new MemoryReportStore()) {
  let now = T0;
  const publisher = new MemoryReportPublisher();
  const analyzer = new Analyzer({ policy: policy(analyzerYaml), controlPlane: plane, reports, publisher, clock: () => now, detection: { warmupMs, ...detection } });
  return {
    analyzer,
    plane,
    reports,
    publisher,
    get now() {
      return now;
    },
    set now(t: number) {
      now = t;
    },
  };
}

export type AnalyzerHarness = ReturnType<typeof setupAnalyzer>;

/** `seconds` of 20 normal clients at one request every two seconds, plus `extra(t)` per second; the reports opened. */
export async function drive(s: AnalyzerHarness, seconds: number, extra: (t: number) => CallEvent[] = () => []) {
  const opened = [];
  for (let i = 0; i < seconds; i++) {
    const t = s.now;
    const batch: CallEvent[] = [];
    for (let c = 0; c < 20; c++) if ((i + c) % 2 === 0) batch.push(ev({ ts: t + c * 10, client: `apiKey:${String(c).padStart(16, '0')}`, route: `/api/r${c % 4}`, ip: `10.0.0.${c}` }));
    batch.push(...extra(t));
    s.analyzer.ingest(batch);
    s.now = t + 1_000;
    opened.push(...(await s.analyzer.tick(s.now)).opened);
  }
  return opened;
}
