/**
 * `ratewarden replay [--detector NAME] FILE.csv|-` — backtest one series: reads `timestamp,value`
 * rows, prints one anomaly score in [0, 1] per data row, in order, with the analyzer's own
 * streaming detector (analyzer/detectors/series). Streams: memory does not grow with the file.
 *
 * Exit 0 on success; 2 on a usage error, an unreadable file or a malformed row (the message
 * names the line). An empty value or NaN is a missing point: it scores 0 and is not learned. A
 * value beyond ±1e300 (Infinity included) is a malformed row: no real series gets there, and the
 * detectors' sums of such values overflow to Infinity and NaN. A value is a decimal number (0x10,
 * 0b1 and 1_000 are not). Fields may be double-quoted, as CSV writers that quote do. When the
 * reader of the scores goes away (`| head`), the replay stops quietly with exit 0; any other
 * failure to write the scores is exit 1.
 */
import { createReadStream } from 'node:fs';
import { StringDecoder } from 'node:string_decoder';
import { parseArgs } from 'node:util';
import { createSeriesDetectorByName, DEFAULT_SERIES_DETECTOR, SERIES_DETECTORS } from '../../analyzer/detectors/series/index.js';
import { parseUtcTimestamp } from '../../analyzer/detectors/series/timestamp.js';

class MalformedInput extends Error {}
/** A line over MAX_LINE_CHARS: thrown before the line is yielded, so it is the line after the last one counted. */
class LineTooLong extends MalformedInput {}

function usage(): string {
  const names = Object.entries(SERIES_DETECTORS).map(([name, d]) => `  ${name.padEnd(13)} ${d.summary}`);
  return (
    'usage: ratewarden replay [--detector NAME] [--min-scale X] FILE.csv   (- reads stdin)\n\n' +
    '  --min-scale X   smallest change that matters, in the series\' units (e.g. 1 for request counts)\n\n' +
    `detectors:\n${names.join('\n')}\n`
  );
}

export async function run(argv: string[]): Promise<number> {
  let values: { detector?: string | undefined; 'min-scale'?: string | undefined; help?: boolean | undefined };
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      options: { detector: { type: 'string', short: 'd' }, 'min-scale': { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    }));
  } catch (err) {
    process.stderr.write(`ratewarden replay: ${(err as Error).message}\n${usage()}`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(usage());
    return 0;
  }
  if (positionals.length !== 1) {
    process.stderr.write(usage());
    return 2;
  }
  const name = values.detector ?? DEFAULT_SERIES_DETECTOR;
  // a decimal, as the values are: Number() reads '' as 0, 0x10 as 16, and Infinity (which makes every z 0)
  const minScaleText = values['min-scale']?.trim();
  const minScale = minScaleText === undefined ? undefined : DECIMAL.test(minScaleText) ? Number(minScaleText) : NaN;
  if (minScale !== undefined && !(minScale >= 0 && minScale <= MAX_ABS_VALUE)) {
    process.stderr.write(`ratewarden replay: --min-scale must be a number >= 0, got "${values['min-scale']}"\n`);
    return 2;
  }
  const detector = createSeriesDetectorByName(name, minScale === undefined ? {} : { minScale });
  if (!detector) {
    process.stderr.write(`ratewarden replay: unknown detector "${name}"\n${usage()}`);
    return 2;
  }
  const file = positionals[0]!;
  const label = file === '-' ? '<stdin>' : file;
  const input = file === '-' ? process.stdin : createReadStream(file);
  const out = new BufferedWriter(process.stdout);
  let lineNo = 0;
  try {
    const lines = readLines(input);
    let sawHeader = false;
    for await (const raw of lines) {
      lineNo++;
      if (!sawHeader) {
        checkHeader(raw);
        sawHeader = true;
        continue;
      }
      if (raw.trim() === '') continue;
      const [ts, value] = parseRow(raw);
      await out.write(formatScore(detector.update(value, ts)));
      if (out.closed) break; // nobody reads the scores any more
    }
    if (out.closed) {
      if (file === '-') process.stdin.destroy();
      else (input as ReturnType<typeof createReadStream>).destroy();
    } else {
      if (!sawHeader) throw new MalformedInput('empty file: expected the header "timestamp,value"');
      await out.flush();
    }
    if (out.error) {
      process.stderr.write(`ratewarden replay: cannot write the scores: ${out.error.message}\n`);
      return 1;
    }
    return 0;
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (err instanceof MalformedInput) process.stderr.write(`ratewarden replay: ${label}:${err instanceof LineTooLong ? lineNo + 1 : lineNo}: ${err.message}\n`);
    else if (e.code) process.stderr.write(`ratewarden replay: cannot read ${label}: ${e.message}\n`);
    else throw err;
    return 2;
  } finally {
    out.detach();
  }
}

/**
 * Longest line accepted, in characters. A row is a timestamp and a number, well under 100; without
 * a bound, a file with no line ends (a binary, a one-line dump) was held whole in memory, and one
 * over V8's longest string (~512 MiB) crashed the replay with a RangeError.
 */
const MAX_LINE_CHARS = 65536;

/**
 * The lines of a stream, split as readline splits them (`\n`, `\r\n` or a lone `\r`, also when a
 * `\r\n` straddles two chunks; a last line without an end is a line), decoded as UTF-8. A line over
 * MAX_LINE_CHARS throws LineTooLong as soon as it is seen, without reading the rest of it.
 */
export async function* readLines(input: NodeJS.ReadableStream): AsyncGenerator<string> {
  const decoder = new StringDecoder('utf8');
  const tooLong = (): LineTooLong => new LineTooLong(`line longer than ${MAX_LINE_CHARS} characters: not a "timestamp,value" row`);
  const breaks = /[\r\n]/g;
  let pending = '';
  let afterCr = false; // the last chunk ended in \r: a \n starting the next one ends no other line
  for await (const chunk of input) {
    const text = pending + (typeof chunk === 'string' ? chunk : decoder.write(chunk));
    let start = afterCr && text.startsWith('\n') ? 1 : 0;
    afterCr = false;
    breaks.lastIndex = start;
    for (let m = breaks.exec(text); m !== null; m = breaks.exec(text)) {
      const end = m.index;
      if (end - start > MAX_LINE_CHARS) throw tooLong();
      yield text.slice(start, end);
      start = end + 1;
      if (text[end] === '\r') {
        if (start === text.length) afterCr = true;
        else if (text[start] === '\n') start++;
      }
      breaks.lastIndex = start;
    }
    pending = text.slice(start);
    if (pending.length > MAX_LINE_CHARS) throw tooLong();
  }
  pending += decoder.end();
  if (pending.length > MAX_LINE_CHARS) throw tooLong();
  if (pending !== '') yield pending;
}

function checkHeader(line: string): void {
  // quoted names too ("timestamp","value"), as some CSV writers put them
  const fields = splitFields(line.replace(/^\uFEFF/, ''));
  if (fields === null || fields.length !== 2 || fields[0]!.trim().toLowerCase() !== 'timestamp' || fields[1]!.trim().toLowerCase() !== 'value') {
    throw new MalformedInput(`expected the header "timestamp,value", found "${truncate(line)}"`);
  }
}

function parseRow(line: string): [number, number] {
  const fields = splitFields(line);
  if (fields === null) throw new MalformedInput(`unbalanced double quotes in "${truncate(line)}"`);
  if (fields.length !== 2) throw new MalformedInput(`expected 2 fields "timestamp,value", found "${truncate(line)}"`);
  const tsText = fields[0]!;
  const valueText = fields[1]!.trim();
  const ts = parseUtcTimestamp(tsText);
  if (Number.isNaN(ts)) throw new MalformedInput(`unreadable timestamp "${truncate(tsText)}" (expected YYYY-MM-DD HH:MM:SS, ISO 8601 or epoch ms)`);
  if (valueText === '' || /^nan$/i.test(valueText)) return [ts, NaN]; // a missing point
  if (/^[+-]?inf(inity)?$/i.test(valueText)) throw new MalformedInput(`value "${truncate(valueText)}" is out of range (|value| ≤ ${MAX_ABS_VALUE})`);
  // decimal only: Number() would also take 0x10, 0b1 and 0o7
  if (!DECIMAL.test(valueText)) throw new MalformedInput(`value "${truncate(valueText)}" is not a number`);
  const value = Number(valueText);
  if (!(Math.abs(value) <= MAX_ABS_VALUE)) throw new MalformedInput(`value "${truncate(valueText)}" is out of range (|value| ≤ ${MAX_ABS_VALUE})`);
  return [ts, value];
}

const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i;

/**
 * The fields of one CSV line (RFC 4180 quoting: `"…"`, `""` for a quote inside), or null when a
 * quote is not closed or text follows a closing quote. Unquoted fields are returned as written.
 */
export function splitFields(line: string): string[] | null {
  const fields: string[] = [];
  let i = 0;
  for (;;) {
    let j = i;
    while (line[j] === ' ' || line[j] === '\t') j++;
    if (line[j] === '"') {
      let value = '';
      j++;
      for (;;) {
        const q = line.indexOf('"', j);
        if (q < 0) return null;
        value += line.slice(j, q);
        if (line[q + 1] === '"') {
          value += '"';
          j = q + 2;
        } else {
          j = q + 1;
          break;
        }
      }
      while (line[j] === ' ' || line[j] === '\t') j++;
      if (j < line.length && line[j] !== ',') return null;
      fields.push(value);
      if (j >= line.length) return fields;
      i = j + 1;
    } else {
      const comma = line.indexOf(',', i);
      if (comma < 0) {
        fields.push(line.slice(i));
        return fields;
      }
      fields.push(line.slice(i, comma));
      i = comma + 1;
    }
  }
}

/** Largest |value| accepted: well inside the doubles, so sums and squares of a few stay finite. */
const MAX_ABS_VALUE = 1e300;

function formatScore(score: number): string {
  // the contract is a score in [0, 1] on every row: a detector's NaN (a bug) prints 0, not "NaN".
  // Ordinary scores are already in [0, 1] and are printed unchanged, at full precision: NAB
  // thresholds on score order, and rounding would create ties
  return `${score >= 0 ? (score <= 1 ? score : 1) : 0}\n`;
}

/** Text from the file as an error message quotes it: at most 60 characters, control characters (a terminal escape, a binary's NULs) as \xNN. */
function truncate(s: string): string {
  const cut = s.length > 60 ? `${s.slice(0, 57)}...` : s;
  return cut.replace(/[\u0000-\u001f\u007f-\u009f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

/**
 * Batches small writes into ~64 KB chunks and honours back-pressure. A failed stream (EPIPE when
 * the reader went away, a full disk) ends the waiting instead of throwing an unhandled 'error':
 * `closed` is set, and `error` too unless the reader just stopped reading.
 */
class BufferedWriter {
  private chunks: string[] = [];
  private size = 0;
  closed = false;
  error: Error | null = null;
  private wake: (() => void) | null = null;
  private readonly onError = (err: NodeJS.ErrnoException): void => {
    this.closed = true;
    if (err.code !== 'EPIPE' && !this.error) this.error = err;
    this.wake?.();
  };

  constructor(private readonly stream: NodeJS.WritableStream) {
    stream.on('error', this.onError);
  }

  async write(s: string): Promise<void> {
    if (this.closed) return;
    this.chunks.push(s);
    this.size += s.length;
    if (this.size >= 65536) await this.flush();
  }

  async flush(): Promise<void> {
    if (this.size === 0 || this.closed) return;
    const data = this.chunks.join('');
    this.chunks = [];
    this.size = 0;
    if (this.stream.write(data)) return;
    await new Promise<void>((resolve) => {
      const done = (): void => {
        this.wake = null;
        this.stream.off('drain', done);
        resolve();
      };
      this.wake = done;
      this.stream.once('drain', done);
    });
  }

  /** Stops listening for errors, keeping one no-op listener: a late EPIPE must not crash the exit. */
  detach(): void {
    this.stream.off('error', this.onError);
    if (this.stream.listenerCount('error') === 0) this.stream.on('error', () => undefined);
  }
}
