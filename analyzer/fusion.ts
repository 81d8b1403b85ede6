/**
 * Fusion: the detectors' scores become one score in [0, 1] by a weighted noisy-OR,
 *   score = 1 − Π (1 − w_d · s_d),
 * so independent evidence accumulates, and a detector's weight caps what it can do alone (by
 * default the autoencoder and the series detector alone stay below the report threshold; a rule at
 * its threshold reports on its own). The explanation lists what fired: rules first, then the
 * features furthest from their baseline, then what the autoencoder could not reconstruct.
 */
import type { Explanation } from '../models/anomaly.js';
import { FEATURES, featureLabel } from '../models/features.js';
import type { AutoencoderScore } from '../models/ml/autoencoder.js';
import type { Expectation } from './baselines/expectation.js';
import { bucketLabel } from './baselines/seasonal.js';
import type { RuleHit } from './detectors/rules.js';
import type { StatisticalResult } from './detectors/statistical.js';
import { fmt } from './format.js';
import type { DetectionOptions } from './options.js';

export interface FusionInput {
  readonly sizeMs: number;
  readonly tier: string;
  /** Requests in the window (for the series detector's explanation). */
  readonly requests?: number;
  readonly statistical: StatisticalResult;
  readonly rules: readonly RuleHit[];
  readonly series: number | null;
  readonly autoencoder: AutoencoderScore | null;
  readonly expectation: Expectation;
}

export interface FusionResult {
  readonly score: number;
  /** Per detector in [0, 1]: statistical, series, autoencoder, and each rule that fired. */
  readonly detectors: Record<string, number>;
  /** The detector that contributed most (label of anomalies_total). */
  readonly dominant: string;
  readonly explanation: Explanation[];
  readonly summary: string;
}

const MAX_EXPLANATIONS = 6;

function r4(x: number): number {
  return Math.round(x * 1e4) / 1e4;
}

function finite(x: number): number {
  return Number.isFinite(x) ? x : 0;
}

export function fuse(input: FusionInput, weights: DetectionOptions['weights']): FusionResult {
  const detectors: Record<string, number> = {};
  let keep = 1;
  let dominant = 'statistical';
  let best = -1;
  const contribute = (name: string, score: number, weight: number): void => {
    const s = Math.min(1, Math.max(0, finite(score)));
    // a weight missing or out of range (options built by hand) must not turn the score into NaN
    const w = Math.min(1, Math.max(0, finite(weight)));
    detectors[name] = r4(s);
    keep *= 1 - w * s;
    if (w * s > best) {
      best = w * s;
      dominant = name;
    }
  };
  contribute('statistical', input.statistical.score, weights.statistical);
  if (input.series !== null) contribute('series', input.series, weights.series);
  if (input.autoencoder) contribute('autoencoder', input.autoencoder.score, weights.autoencoder);
  for (const hit of input.rules) contribute(hit.rule, hit.score, weights.rules);
  const score = r4(Math.min(1, Math.max(0, 1 - keep)));

  const explanation: Explanation[] = [];
  const explained = new Set<string>();
  const stat = new Map(input.statistical.top.map((d) => [d.feature, d]));
  const ruleScore = (h: RuleHit): number => Math.min(1, Math.max(0, finite(h.score)));
  for (const hit of [...input.rules].sort((a, b) => ruleScore(b) - ruleScore(a))) {
    const d = stat.get(hit.feature);
    explanation.push({
      feature: hit.feature,
      observed: r4(finite(hit.observed)),
      baseline: r4(finite(hit.baseline)),
      spread: r4(finite(d?.spread ?? 0)),
      z: r4(finite(d?.z ?? hit.margin)),
      detector: hit.rule,
      text: hit.text.slice(0, 512),
    });
    explained.add(hit.feature);
  }
  const exp = input.expectation;
  const versus =
    exp.source === 'population' ? ` (tier ${input.tier} peers)` : exp.source === 'blend' ? ` (own history blended with tier ${input.tier} peers)` : '';
  for (const d of input.statistical.top) {
    if (explained.has(d.feature) || explanation.length >= MAX_EXPLANATIONS) continue;
    const seasonal = exp.seasonal && FEATURES[d.index]!.seasonal ? ` for ${bucketLabel(exp.seasonal.bucket)}` : '';
    explanation.push({
      feature: d.feature,
      observed: r4(finite(d.observed)),
      baseline: r4(finite(d.baseline)),
      spread: r4(finite(d.spread)),
      z: r4(finite(d.z)),
      detector: 'statistical',
      text: `${d.feature} ${fmt(d.observed)} vs ${fmt(finite(d.baseline))} normal${seasonal}${versus}, z ${fmt(d.z)}`,
    });
    explained.add(d.feature);
  }
  const ae = input.autoencoder;
  if (ae && ae.score >= 0.2) {
    for (const t of ae.top) {
      const feature = featureLabel(t.index, input.sizeMs);
      if (explained.has(feature) || explanation.length >= MAX_EXPLANATIONS) continue;
      explanation.push({
        feature,
        observed: r4(finite(t.observed)),
        baseline: r4(finite(t.expected)),
        spread: 0,
        z: r4(finite(t.z)),
        detector: 'autoencoder',
        text: `autoencoder: ${feature} ${fmt(finite(t.observed))}, the model of normal traffic reconstructs ${fmt(finite(t.expected))}`,
      });
      explained.add(feature);
    }
  }
  if (input.series !== null && input.series >= 0.5 && explanation.length < MAX_EXPLANATIONS && !explained.has(featureLabel(0, input.sizeMs))) {
    explanation.push({ feature: featureLabel(0, input.sizeMs), observed: input.requests ?? 0, baseline: 0, spread: 0, z: 0, detector: 'series', text: `request-rate series: ${fmt(input.requests ?? 0)} requests is unusual for this client's series (score ${fmt(input.series)})` });
  }
  const lead = explanation[0]?.text ?? 'no single feature stands out';
  const summary = (explanation.length > 1 ? `${lead} (+${explanation.length - 1} more)` : lead).slice(0, 4096);
  return { score, detectors, dominant, explanation, summary };
}
