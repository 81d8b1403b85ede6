/**
 * Steady traffic for fault tests: `workers` closed-loop clients, each sending one request, reading
 * the answer, pausing `pauseMs`, and again, until stop(). Every answer is recorded (start time,
 * latency, status, the rate-limit headers the test reads); transport errors are recorded apart.
 * Only ever aimed at 127.0.0.1.
 */
import { Agent, request } from 'undici';

export interface Sample {
  /** performance.now() when the request was sent. */
  readonly at: number;
  readonly ms: number;
  readonly status: number;
  /** X-RateLimit-Limit (NaN when absent). */
  readonly limit: number;
  readonly retryAfter: string | undefined;
  readonly worker: number;
}

export interface LoadOptions {
  readonly url: string;
  readonly workers: number;
  readonly pauseMs?: number;
  /** Path per request (default `/load/<worker>`). */
  readonly path?: (worker: number, n: number) => string;
  readonly headers?: (worker: number, n: number) => Record<string, string>;
  readonly timeoutMs?: number;
}

export interface Load {
  readonly samples: Sample[];
  readonly errors: Array<{ at: number; message: string }>;
  stop(): Promise<void>;
}

export function startLoad(opts: LoadOptions): Load {
  const agent = new Agent({ connections: opts.workers, keepAliveTimeout: 10_000, pipelining: 1 });
  const samples: Sample[] = [];
  const errors: Array<{ at: number; message: string }> = [];
  let running = true;
  const timeoutMs = opts.timeoutMs ?? 5_000;
  const loops = Array.from({ length: opts.workers }, async (_, w) => {
    for (let n = 0; running; n++) {
      const at = performance.now();
      try {
        const r = await request(opts.url + (opts.path ? opts.path(w, n) : `/load/${w}`), {
          dispatcher: agent,
          headers: opts.headers?.(w, n),
          headersTimeout: timeoutMs,
          bodyTimeout: timeoutMs,
        });
        await r.body.dump();
        const limit = r.headers['x-ratelimit-limit'];
        const ra = r.headers['retry-after'];
        samples.push({ at, ms: performance.now() - at, status: r.statusCode, limit: limit === undefined ? NaN : Number(limit), retryAfter: Array.isArray(ra) ? ra[0] : ra, worker: w });
      } catch (err) {
        errors.push({ at, message: (err as Error).message });
      }
      if (opts.pauseMs) await new Promise((r) => setTimeout(r, opts.pauseMs));
    }
  });
  return {
    samples,
    errors,
    async stop() {
      running = false;
      await Promise.all(loops);
      await agent.close();
    },
  };
}

export function percentile(xs: readonly number[], p: number): number {
  if (xs.length === 0) return 0;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(s.length * p) - 1))]!;
}

/** `4,812` */
export function thousands(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

/** One figure line for `npm run test:chaos` (printed to stdout, so the spec reporter shows it). */
export function figure(line: string): void {
  process.stdout.write(`FIGURE ${line}\n`);
}
