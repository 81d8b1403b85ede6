/**
 * A small reader of the Prometheus text exposition format (version 0.0.4) — just what the load
 * watcher needs from an upstream's `/metrics`: sample lines `name{label="value",…} value [ts]`.
 * Comments (# HELP, # TYPE) and blank lines are skipped; a malformed line is counted and skipped,
 * never fatal. Label values may hold the escapes \\, \" and \n.
 */

export interface PromSample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

export interface ParsedExposition {
  readonly samples: PromSample[];
  /** Lines that were neither comments nor valid samples. */
  readonly malformed: number;
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*/;

function parseValue(text: string): number | null {
  switch (text) {
    case '+Inf':
    case 'Inf':
      return Infinity;
    case '-Inf':
      return -Infinity;
    case 'NaN':
      return NaN;
  }
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(text)) return null;
  return Number(text);
}

/** Parses one sample line; null when malformed. */
export function parseSampleLine(line: string): PromSample | null {
  const nameMatch = NAME.exec(line);
  if (!nameMatch) return null;
  const name = nameMatch[0];
  let i = name.length;
  const labels: Record<string, string> = {};
  if (line[i] === '{') {
    i++;
    for (;;) {
      while (line[i] === ' ') i++;
      if (line[i] === '}') {
        i++;
        break;
      }
      const ln = LABEL_NAME.exec(line.slice(i));
      if (!ln) return null;
      i += ln[0].length;
      while (line[i] === ' ') i++;
      if (line[i] !== '=') return null;
      i++;
      while (line[i] === ' ') i++;
      if (line[i] !== '"') return null;
      i++;
      let value = '';
      for (;;) {
        const c = line[i];
        if (c === undefined) return null;
        if (c === '"') {
          i++;
          break;
        }
        if (c === '\\') {
          const n = line[i + 1];
          value += n === 'n' ? '\n' : n === '"' ? '"' : n === '\\' ? '\\' : '\\' + (n ?? '');
          i += 2;
          continue;
        }
        value += c;
        i++;
      }
      labels[ln[0]] = value;
      while (line[i] === ' ') i++;
      if (line[i] === ',') i++;
      else if (line[i] !== '}') return null;
    }
  }
  const rest = line.slice(i).trim().split(/\s+/);
  if (rest.length < 1 || rest.length > 2 || rest[0] === '') return null;
  const value = parseValue(rest[0]!);
  if (value === null) return null;
  return { name, labels, value };
}

export function parseExposition(text: string): ParsedExposition {
  const samples: PromSample[] = [];
  let malformed = 0;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const s = parseSampleLine(line);
    if (s) samples.push(s);
    else malformed++;
  }
  return { samples, malformed };
}

export interface GaugeSelector {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
}

/** A policy gauge key: `name` or `name{label="value",…}` (the labels must all match). */
export function parseSelector(text: string): GaugeSelector | null {
  const s = parseSampleLine(`${text.trim()} 0`);
  return s ? { name: s.name, labels: s.labels } : null;
}

/** The largest value among the samples the selector matches (NaN ignored), or null when none does. */
export function selectGauge(samples: readonly PromSample[], selector: GaugeSelector): number | null {
  let best: number | null = null;
  outer: for (const s of samples) {
    if (s.name !== selector.name || Number.isNaN(s.value)) continue;
    for (const [k, v] of Object.entries(selector.labels)) if (s.labels[k] !== v) continue outer;
    if (best === null || s.value > best) best = s.value;
  }
  return best;
}
