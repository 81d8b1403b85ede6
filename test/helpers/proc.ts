/**
 * Processes and servers for tests: spawn `ratewarden <command>` as a real child process (through
 * tsx, as the rules require) and wait for its one-line JSON `ready` log; a stub upstream HTTP server
 * that records what reached it; small HTTP client helpers. Every child started here is killed in
 * `stop()` and, as a safety net, when the test process exits.
 *
 *   const up = await startStubUpstream();
 *   const sc = await startSidecarProcess({ policy: YAML, upstream: up.url, env: { REDIS_URL } });
 *   const r = await httpRequest(sc.url + '/api/x');
 *   await sc.stop(); await up.close();
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request as undiciRequest, Agent } from 'undici';
import { ROOT } from './infra.js';

// ------------------------------------------------------------------ child processes

export interface LogLine {
  readonly [key: string]: unknown;
  readonly msg?: string;
}

export interface RunningProcess {
  readonly proc: ChildProcess;
  readonly pid: number;
  /** Every stdout line so far (raw). */
  readonly stdout: string[];
  readonly stderr: string[];
  /** stdout lines that parsed as JSON objects (pino logs). */
  readonly logs: LogLine[];
  /** Resolves with the first JSON log line matching `pred` (already seen lines included). */
  waitForLog(pred: (line: LogLine) => boolean, timeoutMs?: number): Promise<LogLine>;
  /** Resolves when the process exits. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGTERM (or `signal`), then SIGKILL after `graceMs`; resolves with the exit. */
  stop(signal?: NodeJS.Signals, graceMs?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** stdout+stderr tail, for assertion messages. */
  output(): string;
}

const live = new Set<ChildProcess>();
let exitHookInstalled = false;
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const p of live) {
      try {
        p.kill('SIGKILL');
      } catch {
        // already gone
      }
    }
  });
}

export interface SpawnOptions {
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
}

/** Spawns `ratewarden <args>` (cli/main.ts through tsx) — does not wait for anything. */
export function spawnRatewarden(args: readonly string[], opts: SpawnOptions = {}): RunningProcess {
  installExitHook();
  const proc = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'cli/main.ts'), ...args], {
    cwd: opts.cwd ?? ROOT,
    env: { ...(opts.env ?? process.env) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  live.add(proc);
  const stdout: string[] = [];
  const stderr: string[] = [];
  const logs: LogLine[] = [];
  const waiters: Array<{ pred: (l: LogLine) => boolean; resolve: (l: LogLine) => void }> = [];
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    proc.once('exit', (code, signal) => {
      live.delete(proc);
      resolve({ code, signal });
    });
  });
  const lineReader = (sink: string[], json: boolean) => {
    let buf = '';
    return (chunk: Buffer) => {
      buf += chunk.toString('utf8');
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        sink.push(line);
        if (sink.length > 5_000) sink.splice(0, sink.length - 5_000);
        if (!json) continue;
        let parsed: LogLine | null = null;
        try {
          const v = JSON.parse(line) as unknown;
          if (v && typeof v === 'object' && !Array.isArray(v)) parsed = v as LogLine;
        } catch {
          // not a log line
        }
        if (parsed === null) continue;
        logs.push(parsed);
        for (let i = waiters.length - 1; i >= 0; i--) {
          if (waiters[i]!.pred(parsed)) {
            waiters[i]!.resolve(parsed);
            waiters.splice(i, 1);
          }
        }
      }
    };
  };
  proc.stdout!.on('data', lineReader(stdout, true));
  proc.stderr!.on('data', lineReader(stderr, false));
  const output = (): string => [...stdout.slice(-40), ...stderr.slice(-40)].join('\n');
  const rp: RunningProcess = {
    proc,
    pid: proc.pid!,
    stdout,
    stderr,
    logs,
    exited,
    output,
    waitForLog(pred, timeoutMs = 30_000) {
      const seen = logs.find(pred);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no matching log line within ${timeoutMs} ms; output:\n${output()}`)), timeoutMs);
        const waiter = {
          pred,
          resolve: (l: LogLine) => {
            clearTimeout(timer);
            resolve(l);
          },
        };
        waiters.push(waiter);
        exited.then(({ code, signal }) => {
          clearTimeout(timer);
          reject(new Error(`process exited (code ${code}, signal ${signal}) before the expected log line; output:\n${output()}`));
        });
      });
    },
    async stop(signal = 'SIGTERM', graceMs = 15_000) {
      if (proc.exitCode !== null || proc.signalCode !== null) return exited;
      proc.kill(signal);
      const timer = setTimeout(() => proc.kill('SIGKILL'), graceMs);
      const result = await exited;
      clearTimeout(timer);
      return result;
    },
  };
  return rp;
}

/** Runs `ratewarden <args>` to completion; resolves with exit code and output. */
export async function runRatewarden(args: readonly string[], opts: SpawnOptions & { timeoutMs?: number } = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const p = spawnRatewarden(args, opts);
  const timer = setTimeout(() => p.proc.kill('SIGKILL'), opts.timeoutMs ?? 30_000);
  const { code } = await p.exited;
  clearTimeout(timer);
  // let the pipes drain
  await new Promise((r) => setImmediate(r));
  return { code, stdout: p.stdout.join('\n'), stderr: p.stderr.join('\n') };
}

// ------------------------------------------------------------------ sidecar processes

export interface SidecarProcess extends RunningProcess {
  /** `http://127.0.0.1:PORT` of the proxy listener. */
  readonly url: string;
  /** `http://127.0.0.1:PORT` of the admin listener. */
  readonly adminUrl: string;
  readonly configFile: string;
  /** The parsed `ready` log line. */
  readonly ready: LogLine;
}

export interface SidecarProcessOptions {
  /** Policy YAML text (written to a temp file) or an existing file via `configFile`. */
  readonly policy?: string;
  readonly configFile?: string;
  readonly upstream: string;
  /** Extra environment on top of the test's (use childEnv() from infra.ts for a clean base). */
  readonly env?: NodeJS.ProcessEnv;
  readonly args?: readonly string[];
  readonly readyTimeoutMs?: number;
}

/** Starts `ratewarden sidecar` on loopback ports chosen by the OS and waits for its ready line. */
export async function startSidecarProcess(opts: SidecarProcessOptions): Promise<SidecarProcess> {
  let configFile = opts.configFile;
  if (!configFile) {
    if (opts.policy === undefined) throw new Error('startSidecarProcess needs policy or configFile');
    configFile = join(tempDir('rw-sidecar-'), 'policy.yaml');
    writeFileSync(configFile, opts.policy);
  }
  const p = spawnRatewarden(['sidecar', '--config', configFile, '--upstream', opts.upstream, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', ...(opts.args ?? [])], { env: opts.env });
  let ready: LogLine;
  try {
    ready = await p.waitForLog((l) => l.msg === 'ready', opts.readyTimeoutMs ?? 30_000);
  } catch (err) {
    await p.stop('SIGKILL');
    throw err;
  }
  return Object.assign(p, { url: String(ready.listen), adminUrl: String(ready.admin), configFile, ready });
}

// ------------------------------------------------------------------ temp files

const tempDirs: string[] = [];
/** A fresh temp directory, removed when the test process exits. */
export function tempDir(prefix = 'rw-test-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  if (tempDirs.length === 0) process.once('exit', () => tempDirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
  tempDirs.push(dir);
  return dir;
}

/** A free TCP port on 127.0.0.1 (for processes that need one fixed before they start). */
export async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const port = (srv.address() as AddressInfo).port;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

// ------------------------------------------------------------------ stub upstream

export interface RecordedRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  readonly rawHeaders: readonly string[];
  readonly bodyBytes: number;
  readonly bodySha256: string;
}

export interface StubUpstream {
  readonly url: string;
  readonly port: number;
  readonly server: Server;
  /** Requests that reached the upstream (bodies read to the end), in arrival order. */
  readonly requests: RecordedRequest[];
  /** Requests that have arrived, counted as soon as their headers are in. */
  arrived(): number;
  /** Largest number of requests handled at the same time. */
  maxConcurrent(): number;
  reset(): void;
  close(): Promise<void>;
}

export type StubHandler = (req: IncomingMessage, res: ServerResponse, recorded: RecordedRequest) => void;

/**
 * A recording upstream on 127.0.0.1. Built-in routes (any method):
 *  - `/bytes/N` streams N bytes (in 64 KiB chunks, pattern of byte i = i % 251)
 *  - `/status/N` answers status N
 *  - `/delay/MS` answers after MS milliseconds
 *  - `/hang` never answers (for timeouts)
 *  - anything else: 200 JSON `{method, url, headers, bodyBytes, bodySha256}` (the echo)
 * `handler` replaces the routes (the body has been read when it runs).
 */
export async function startStubUpstream(opts: { handler?: StubHandler; port?: number } = {}): Promise<StubUpstream> {
  const requests: RecordedRequest[] = [];
  let arrived = 0;
  let active = 0;
  let maxActive = 0;
  const server = createServer((req, res) => {
    arrived++;
    active++;
    if (active > maxActive) maxActive = active;
    res.once('close', () => active--);
    const hash = createHash('sha256');
    let bytes = 0;
    req.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      hash.update(chunk);
    });
    req.on('end', () => {
      const recorded: RecordedRequest = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, rawHeaders: req.rawHeaders, bodyBytes: bytes, bodySha256: hash.digest('hex') };
      requests.push(recorded);
      if (opts.handler) return opts.handler(req, res, recorded);
      builtin(req, res, recorded);
    });
  });
  server.keepAliveTimeout = 10_000;
  await new Promise<void>((resolve) => server.listen(opts.port ?? 0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    server,
    requests,
    arrived: () => arrived,
    maxConcurrent: () => maxActive,
    reset() {
      requests.length = 0;
      arrived = 0;
      maxActive = 0;
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function builtin(req: IncomingMessage, res: ServerResponse, recorded: RecordedRequest): void {
  const path = (req.url ?? '/').split('?')[0]!;
  let m: RegExpExecArray | null;
  if ((m = /^\/bytes\/(\d+)$/.exec(path))) {
    streamBytes(res, Number(m[1]));
    return;
  }
  if ((m = /^\/status\/(\d{3})$/.exec(path))) {
    res.writeHead(Number(m[1]), { 'content-type': 'application/json' });
    res.end(JSON.stringify({ status: Number(m[1]) }));
    return;
  }
  if ((m = /^\/delay\/(\d+)$/.exec(path))) {
    const timer = setTimeout(() => echo(res, recorded), Number(m[1]));
    res.once('close', () => clearTimeout(timer));
    return;
  }
  if (path === '/hang') return;
  echo(res, recorded);
}

function echo(res: ServerResponse, r: RecordedRequest): void {
  const body = JSON.stringify({ method: r.method, url: r.url, headers: r.headers, bodyBytes: r.bodyBytes, bodySha256: r.bodySha256 });
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'x-upstream': 'stub' });
  res.end(body);
}

/** The byte pattern of `/bytes/N` (byte i is i % 251), for checking downloads. */
export function patternBytes(offset: number, length: number): Buffer {
  const b = Buffer.allocUnsafe(length);
  for (let i = 0; i < length; i++) b[i] = (offset + i) % 251;
  return b;
}

function streamBytes(res: ServerResponse, total: number): void {
  res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(total) });
  let sent = 0;
  const write = (): void => {
    while (sent < total) {
      const n = Math.min(64 * 1024, total - sent);
      const ok = res.write(patternBytes(sent, n));
      sent += n;
      if (!ok) {
        res.once('drain', write);
        return;
      }
    }
    res.end();
  };
  write();
}

// ------------------------------------------------------------------ HTTP client

export interface HttpAnswer {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly text: string;
  json<T = unknown>(): T;
}

/** A shared keep-alive agent for tests (closed at exit by the runtime). */
export const testAgent = new Agent({ connections: 256, keepAliveTimeout: 5_000 });

export async function httpRequest(
  url: string,
  opts: { method?: string; headers?: Record<string, string>; body?: string | Buffer | NodeJS.ReadableStream; timeoutMs?: number } = {},
): Promise<HttpAnswer> {
  const r = await undiciRequest(url, {
    method: (opts.method ?? 'GET') as 'GET',
    headers: opts.headers,
    body: opts.body as string | Buffer | undefined,
    dispatcher: testAgent,
    headersTimeout: opts.timeoutMs ?? 30_000,
    bodyTimeout: opts.timeoutMs ?? 30_000,
  });
  const text = await r.body.text();
  return {
    status: r.statusCode,
    headers: r.headers,
    text,
    json<T>() {
      return JSON.parse(text) as T;
    },
  };
}

/** Polls `fn` until it returns a truthy value or `timeoutMs` passes (then throws with `what`). */
export async function waitFor<T>(fn: () => T | Promise<T>, what: string, timeoutMs = 10_000, everyMs = 20): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** Reads one metric's value from Prometheus text (labels as `{a="b"}` exactly as exposed, or none). */
export function metricValue(text: string, name: string, labels: Record<string, string> = {}): number | null {
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (!m || m[1] !== name) continue;
    const got: Record<string, string> = {};
    for (const pair of (m[2] ?? '').replace(/^\{|\}$/g, '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) got[pair[1]!] = pair[2]!;
    if (Object.entries(labels).every(([k, v]) => got[k] === v)) return Number(m[3]);
  }
  return null;
}

/**
 * Sends raw request bytes (repeated headers, odd targets: what an HTTP client library will not send)
 * to 127.0.0.1:`port` and resolves with the status line of the answer (`HTTP/1.1 400 Bad Request`).
 */
export function rawStatusLine(port: number, request: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1');
    let buf = '';
    s.on('data', (d) => {
      buf += d;
      const end = buf.indexOf('\r\n');
      if (end >= 0) {
        s.destroy();
        resolve(buf.slice(0, end));
      }
    });
    s.on('error', reject);
    s.write(request);
  });
}
