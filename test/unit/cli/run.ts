/**
 * Runs `ratewarden …` (cli/main.ts through tsx) as a child process for the CLI tests: exit code,
 * stdout and stderr, with a clean environment (no Redis, Kafka or RW_* settings from the caller)
 * and a deadline after which the child is killed — so a CLI that never exits fails its test
 * (code null) instead of hanging the suite.
 */
import { spawn } from 'node:child_process';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';

export const ROOT = join(import.meta.dirname, '..', '..', '..');

export interface CliResult {
  /** null when the child was killed at the deadline (it did not exit by itself). */
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly ms: number;
}

export interface CliOptions {
  readonly env?: Record<string, string>;
  /** Written to stdin, which is then closed; undefined leaves stdin open (a read would wait). */
  readonly stdin?: string;
  readonly timeoutMs?: number;
}

export function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (/^(RW_|REDIS_|KAFKA_)/.test(k)) continue;
    env[k] = v;
  }
  return { ...env, KAFKAJS_NO_PARTITIONER_WARNING: '1', ...extra };
}

export function cli(args: readonly string[], opts: CliOptions = {}): Promise<CliResult> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'cli/main.ts'), ...args], { cwd: ROOT, env: cleanEnv(opts.env), stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdin.on('error', () => undefined);
    if (opts.stdin !== undefined) child.stdin.end(opts.stdin);
    let killed = false;
    const timer = setTimeout(() => {
      killed = true;
      child.kill('SIGKILL');
    }, opts.timeoutMs ?? 20_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: killed ? null : code, stdout, stderr, ms: Date.now() - started });
    });
  });
}

/** A port on 127.0.0.1 held open by this process (for "address already in use"). */
export async function occupiedPort(): Promise<{ port: number; close: () => Promise<void> }> {
  const server: Server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return { port, close: () => new Promise<void>((r) => server.close(() => r())) };
}

/** A port on 127.0.0.1 where nothing listens (connections are refused). */
export async function closedPort(): Promise<number> {
  const p = await occupiedPort();
  await p.close();
  return p.port;
}
