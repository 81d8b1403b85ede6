/**
 * Logging: pino JSON lines written asynchronously (sonic-boom, `sync: false`: writes complete off the
 * request path), so a slow stdout never slows a request. Client-controlled strings go through `safe()`
 * before they reach a log line: bounded, control characters escaped — pino's JSON already escapes
 * newlines, `safe()` also keeps terminal escapes and megabyte headers out.
 */
import { pino, type Logger } from 'pino';
import { logLevelFromEnv } from '../models/infra.js';

export type { Logger };

export interface LoggerOptions {
  readonly level?: string;
  /** Where lines go; default stdout (fd 1). */
  readonly fd?: number;
  /** Synchronous writes (start-up errors just before exit); the request path never uses these. */
  readonly sync?: boolean;
}

export function createLogger(opts: LoggerOptions = {}): Logger {
  const destination = pino.destination({ dest: opts.fd ?? 1, sync: opts.sync ?? false });
  return pino(
    {
      level: opts.level ?? logLevelFromEnv(process.env),
      base: { program: 'ratewarden-sidecar' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    destination,
  );
}

/** A logger that discards everything (in-process use where the caller does not want lines). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}

const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g;

/** A client-controlled string made safe for a log line: at most `max` characters, control characters escaped. */
export function safe(value: unknown, max = 200): string {
  const text = typeof value === 'string' ? value : String(value);
  const bounded = text.length > max ? text.slice(0, max) + '…' : text;
  return bounded.replace(CONTROL, (c) => '\\u' + c.charCodeAt(0).toString(16).padStart(4, '0'));
}
