/**
 * The printed report: one markdown table with every figure of the run (medians, with ratios against
 * the peers measured in the same run), a detection table per scenario, the plots, the machine and
 * how to reproduce. The README's performance section is copied from this text.
 */
import { machineLine } from '../machine.js';
import { isFixedRate } from './cases.js';
import { fmt, markdownTable, times } from './markdown.js';
import type { BenchResults } from './shape.js';

const PEER_LABEL: Record<string, string> = {
  http_proxy: '@fastify/http-proxy',
  fastify_rate_limit: '@fastify/rate-limit',
  rate_limiter_flexible: 'rate-limiter-flexible',
  nginx: 'nginx',
  upstream: 'upstream direct',
  redis_benchmark_evalsha: 'redis-benchmark EVALSHA',
};

function vs(ratios: Record<string, number | null>, ids: readonly string[]): string {
  return ids
    .filter((id) => id in ratios)
    .map((id) => `${times(ratios[id])} ${PEER_LABEL[id] ?? id}`)
    .join(' · ');
}

function ms(v: number | null | undefined): string {
  return fmt(v, 3);
}

export interface SummaryOptions {
  readonly command: string;
  /** Where the results JSON went (repository-relative). */
  readonly output?: string;
  readonly plots: readonly string[];
  readonly reps: number;
  readonly durations: ReadonlyArray<{ part: string; seconds: number; status: string }>;
}

/** Sections of parts that were not selected say so; they get no rows. */
const NOT_RUN = 'not run';

export function mainRows(r: BenchResults): string[][] {
  const rows: string[][] = [];
  for (const c of r.cases) {
    if (c.status !== 'ok') {
      rows.push(['sidecar', c.name, `${c.status}${c.note ? `: ${c.note}` : ''}`, '–', '–', '']);
      continue;
    }
    const extra = c as unknown as { offered_rps?: number; added_p99_ms?: number; core_busy?: number };
    if (isFixedRate(c.name)) {
      const added = extra.added_p99_ms !== undefined ? `adds ${ms(extra.added_p99_ms)} ms p99 over the upstream` : '';
      const busy = typeof extra.core_busy === 'number' ? `its core (with the upstream's) ${Math.round(extra.core_busy * 100)}% busy` : '';
      rows.push(['sidecar', c.name, `${fmt(c.rps)} req/s offered (open loop)`, ms(c.p50_ms), ms(c.p99_ms), [added, busy].filter(Boolean).join('; ')]);
      continue;
    }
    const ours = c.name.startsWith('ratewarden');
    rows.push(['sidecar', c.name, `${fmt(c.rps)} req/s`, ms(c.p50_ms), ms(c.p99_ms), ours ? vs(c.ratio_vs, ['http_proxy', 'fastify_rate_limit', 'rate_limiter_flexible', 'nginx']) : '']);
  }
  for (const e of r.engine) rows.push(['engine', e.name, `${fmt(e.decisions_per_s)} decisions/s`, ms(e.p50_ms), ms(e.p99_ms), vs(e.ratio_vs, ['rate_limiter_flexible', 'redis_benchmark_evalsha'])]);
  const p = r.propagation_ms;
  if (p.skipped === NOT_RUN) {
    // not selected
  } else if (p.skipped) rows.push(['control plane', 'block → 403 on every sidecar', p.skipped, '–', '–', '']);
  else rows.push(['control plane', `block → 403, ${String(p.sidecars ?? '?')} sidecars on Redis (${String(p.samples ?? '?')} samples)`, `p99 ${ms(p.p99)} ms`, ms(p.p50), ms(p.p99), `target p99 < 50 ms: ${p.p99 !== null && p.p99 < 50 ? 'met' : 'not met'}`]);
  const ev = r.events;
  if (ev.skipped === NOT_RUN) {
    // not selected
  } else if (ev.skipped) rows.push(['events', 'Kafka events under a load burst', ev.skipped, '–', '–', '']);
  else rows.push(['events', `Kafka events under a ${String(ev.seconds ?? '?')} s wrk burst`, `${fmt(ev.sent_per_s)} events/s sent, ${fmt(ev.dropped, 0)} dropped`, '–', '–', `${fmt(ev.on_topic as number, 0)} on the topic for ${fmt(ev.requests as number, 0)} requests`]);
  const a = r.analyzer;
  if (a.skipped === NOT_RUN) {
    // not selected
  } else if (a.skipped) rows.push(['analyzer', 'ingest', a.skipped, '–', '–', '']);
  else {
    rows.push(['analyzer', 'ingest + scoring + decisions (one core)', `${fmt(a.events_per_s)} events/s`, '–', '–', `counters only ${fmt(a.ingest_only_events_per_s as number)}/s; from JSON ${fmt(a.decode_ingest_events_per_s as number)}/s`]);
    const lag = a.lag_at_50k as { max_lag?: number; final_lag?: number; bounded?: boolean; produced_events_per_s?: number; skipped?: string } | undefined;
    if (lag && !lag.skipped) rows.push(['analyzer', 'consumer lag, 50k events/s asked on Kafka', `max lag ${fmt(lag.max_lag, 0)}, final ${fmt(lag.final_lag, 0)}`, '–', '–', `${lag.bounded ? 'bounded' : 'GROWING'}; producer reached ${fmt(lag.produced_events_per_s)}/s`]);
  }
  const d = r.detection;
  for (const s of d.scenarios) {
    rows.push(['detection', s.name, `recall ${fmt(s.recall)} · precision ${fmt(s.precision)} · ${fmt(s.false_alarms_per_10k_client_min)} false alarms/10k client-min`, '–', '–', `detected ${s.ttd_s === null ? 'never' : `${fmt(s.ttd_s, 0)} s`} · blocked ${s.time_to_block_s === null ? 'never' : `${fmt(s.time_to_block_s, 0)} s`} after onset`]);
  }
  if (d.skipped && d.skipped !== NOT_RUN && d.scenarios.length === 0) rows.push(['detection', 'simulator scenarios', d.skipped, '–', '–', '']);
  const nab = d.nab_dev;
  if (nab.skipped === NOT_RUN) {
    // not selected
  } else if (nab.skipped) rows.push(['detection', 'NAB dev, ratewarden replay', nab.skipped, '–', '–', '']);
  else {
    const base = nab.baseline as { standard?: number; detector?: string } | undefined;
    rows.push(['detection', `NAB dev (${String(nab.files ?? '?')} files), ratewarden replay`, `standard ${fmt(nab.standard, 1)} · low_fp ${fmt(nab.low_fp, 1)} · low_fn ${fmt(nab.low_fn, 1)}`, '–', '–', base?.standard !== undefined ? `${base.detector ?? 'baseline'} baseline: standard ${fmt(base.standard, 1)}` : '']);
  }
  const l = r.load;
  if (l.skipped === NOT_RUN) {
    // not selected
  } else if (l.skipped) rows.push(['load', 'adaptive shedding at 3× capacity', l.skipped, '–', '–', '']);
  else {
    const met = (l.met ?? {}) as Record<string, boolean>;
    const unmet = Object.entries(met).filter(([, ok]) => !ok).map(([k]) => k);
    rows.push(['load', 'ratewarden adaptive at 3× an upstream\'s capacity', `goodput ${fmt(l.goodput_ratio)} of capacity · p99 ${times(l.p99_ratio)} unloaded · enterprise success ${fmt(l.enterprise_success, 3)}`, '–', '–', `reacts in ${fmt(l.react_s, 1)} s, recovers in ${fmt(l.recovery_s as number | null, 1)} s; targets ${unmet.length ? `missed: ${unmet.join(', ')}` : 'all met'}`]);
  }
  return rows;
}

export function detectionRows(r: BenchResults): string[][] {
  const opt = (x: unknown): string => (typeof x === 'number' ? fmt(x, 0) : '–');
  const rows = r.detection.scenarios.map((s) => [s.name, fmt(s.recall), fmt(s.precision), fmt(s.false_alarms_per_10k_client_min), s.ttd_s === null ? '–' : fmt(s.ttd_s, 0), opt(s.first_call_s), opt(s.calls_to_detect), s.time_to_block_s === null ? '–' : fmt(s.time_to_block_s, 0), String(s.first_detector ?? '–')]);
  const o = r.detection.overall as { recall?: number; precision?: number; false_alarms_per_10k_client_min?: number; median_ttd_s?: number; median_time_to_block_s?: number } | undefined;
  if (o) rows.push(['**all** (attacks detected / all reports / whole run)', fmt(o.recall), fmt(o.precision), fmt(o.false_alarms_per_10k_client_min), `${fmt(o.median_ttd_s, 0)} (median)`, '', '', `${fmt(o.median_time_to_block_s, 0)} (median)`, '']);
  return rows;
}

export function summaryMarkdown(r: BenchResults, o: SummaryOptions): string {
  const out: string[] = [];
  out.push(`### Benchmarks (${r.machine.date.slice(0, 10)})`);
  out.push('');
  out.push(`Machine: ${machineLine(r.machine)}. Throughput and latency figures are medians of ${o.reps} repetition${o.reps === 1 ? '' : 's'}; peers are measured in the same run, and a ratio is the median of the per-repetition ratios.`);
  out.push('');
  out.push(markdownTable(['part', 'case', 'result (median)', 'p50 ms', 'p99 ms', 'vs peers (same run)'], mainRows(r), ['left', 'left', 'left', 'right', 'right', 'left']));
  if (r.detection.scenarios.length) {
    out.push('');
    const sim = r.detection.simulation as { hours?: number; clients?: number; events?: number } | undefined;
    out.push(`Detection on the simulator's labelled scenarios${sim ? ` (${String(sim.hours)} h simulated, ${String(sim.clients)} clients, ${fmt(sim.events)} events)` : ''}: recall = attacking clients reported; precision and false alarms count the reports raised during each attack (+ 2 min); times from onset; the attack's first call and its calls until detected show how much of the time to detect is the attack's own pace.`);
    out.push('');
    out.push(markdownTable(['scenario', 'recall', 'precision', 'false alarms / 10k client-min', 'time to detect s', "attack's first call s", 'its calls until detected', 'time to block s', 'first detector'], detectionRows(r), ['left', 'right', 'right', 'right', 'right', 'right', 'right', 'right', 'left']));
  }
  if (o.plots.length) {
    out.push('');
    out.push(`Plots: ${o.plots.map((p) => `[${p.replace(/^.*\//, '')}](${p})`).join(' · ')}`);
  }
  out.push('');
  out.push(`Parts: ${o.durations.map((d) => `${d.part} ${Math.round(d.seconds)} s${d.status === 'ok' ? '' : ` (${d.status})`}`).join(', ')}.`);
  out.push('');
  out.push(`Reproduce: \`${o.command}\` (starts Redis and Kafka with scripts/infra/up.sh, installs wrk/nginx-light/redis-tools when missing; writes ${o.output ?? 'bench/results.json'}, bench/out/*.svg and this text to bench/out/summary.md).`);
  return out.join('\n') + '\n';
}
