import { ErrorCodes } from './errors.js';

/** Result of decoding untrusted bytes: a value, or a reason that is counted and logged by the caller. */
export type Decoded<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly code: string; readonly error: string };

export function decodeFail<T>(code: string, error: string): Decoded<T> {
  return { ok: false, code, error };
}

/** JSON.parse that reports instead of throwing, with a size cap (untrusted input). */
export function parseJsonObject(input: string | Buffer | Uint8Array, maxBytes = 1 << 20): Decoded<Record<string, unknown>> {
  const length = typeof input === 'string' ? input.length : input.byteLength;
  if (length > maxBytes) return decodeFail(ErrorCodes.CODEC_FIELD, `message of ${length} bytes exceeds ${maxBytes}`);
  let value: unknown;
  try {
    value = JSON.parse(typeof input === 'string' ? input : Buffer.from(input.buffer, input.byteOffset, input.byteLength).toString('utf8'));
  } catch (err) {
    return decodeFail(ErrorCodes.CODEC_JSON, `not JSON: ${(err as Error).message}`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return decodeFail(ErrorCodes.CODEC_JSON, 'not a JSON object');
  return { ok: true, value: value as Record<string, unknown> };
}

/** Field checks shared by the codecs; each returns an error text or null. */
export const check = {
  string(o: Record<string, unknown>, k: string, opts: { optional?: boolean; nullable?: boolean; max?: number } = {}): string | null {
    const v = o[k];
    if (v === undefined) return opts.optional ? null : `${k} is missing`;
    if (v === null) return opts.nullable ? null : `${k} must not be null`;
    if (typeof v !== 'string') return `${k} must be a string`;
    if (v.length > (opts.max ?? 4096)) return `${k} is longer than ${opts.max ?? 4096}`;
    return null;
  },
  number(o: Record<string, unknown>, k: string, opts: { optional?: boolean; nullable?: boolean; min?: number; max?: number; int?: boolean } = {}): string | null {
    const v = o[k];
    if (v === undefined) return opts.optional ? null : `${k} is missing`;
    if (v === null) return opts.nullable ? null : `${k} must not be null`;
    if (typeof v !== 'number' || !Number.isFinite(v)) return `${k} must be a finite number`;
    if (opts.int && !Number.isInteger(v)) return `${k} must be an integer`;
    if (opts.min !== undefined && v < opts.min) return `${k} must be ≥ ${opts.min}`;
    if (opts.max !== undefined && v > opts.max) return `${k} must be ≤ ${opts.max}`;
    return null;
  },
  oneOf(o: Record<string, unknown>, k: string, values: readonly string[], opts: { optional?: boolean } = {}): string | null {
    const v = o[k];
    if (v === undefined) return opts.optional ? null : `${k} is missing`;
    if (typeof v !== 'string' || !values.includes(v)) return `${k} must be one of ${values.join(', ')}`;
    return null;
  },
  boolean(o: Record<string, unknown>, k: string, opts: { optional?: boolean } = {}): string | null {
    const v = o[k];
    if (v === undefined) return opts.optional ? null : `${k} is missing`;
    return typeof v === 'boolean' ? null : `${k} must be true or false`;
  },
  version(o: Record<string, unknown>, supported: number): string | null {
    return o.v === supported ? null : `unsupported version v=${JSON.stringify(o.v)} (expected ${supported})`;
  },
};

/** Runs checks in order; the first failure wins. */
export function firstError(...errors: Array<string | null>): string | null {
  for (const e of errors) if (e !== null) return e;
  return null;
}
