/**
 * The benchmarks' child processes (upstreams, sidecars, simulators): spawn one, wait for the line
 * that says it is ready, stop it with SIGTERM (SIGKILL after a grace period). Every child still
 * running when the bench exits is killed, so a failed run leaves nothing behind.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { connect } from 'node:net';

const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const c of live) c.kill('SIGKILL');
});

export interface ReadyChild<T> {
  readonly child: ChildProcess;
  /** What `readyOf` returned for the ready line. */
  readonly ready: T;
  /** The last ~100 KB the child wrote (stdout and stderr). */
  output(): string;
  /** SIGTERM, SIGKILL after the grace period; resolves on exit (at once when it has exited). */
  stop(): Promise<void>;
}

export interface SpawnReadyOptions {
  readonly env?: NodeJS.ProcessEnv;
  /** How long to wait for the ready line (30 s). */
  readonly timeoutMs?: number;
  /** SIGTERM → SIGKILL grace on stop (10 s). */
  readonly graceMs?: number;
  /** Runs once the child is stopped, or when it fails to start. */
  readonly cleanup?: () => void;
}

/** `signal` (SIGTERM), then SIGKILL after `graceMs`; resolves when the child has exited. */
export function stopChild(child: ChildProcess, graceMs = 10_000, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  return new Promise((done) => {
    if (child.exitCode !== null || child.signalCode !== null) return done();
    child.once('exit', () => done());
    child.kill(signal);
    setTimeout(() => child.kill('SIGKILL'), graceMs).unref();
  });
}

/** A line of JSON output as an object, or null. */
export function jsonLine(line: string): Record<string, unknown> | null {
  try {
    const v: unknown = JSON.parse(line);
    return v !== null && typeof v === 'object' ? (v as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

/**
 * Spawns `cmd args` and resolves at the first output line (stdout or stderr) for which `readyOf`
 * returns non-null; rejects, with the tail of the output, when the child exits first or the
 * timeout passes (the child is then killed).
 */
export function spawnReady<T>(cmd: string, args: readonly string[], readyOf: (line: string) => T | null, o: SpawnReadyOptions = {}): Promise<ReadyChild<T>> {
  const timeoutMs = o.timeoutMs ?? 30_000;
  const what = [cmd, ...args].join(' ').slice(0, 300);
  const child = spawn(cmd, args, { env: o.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
  live.add(child);
  let output = '';
  return new Promise((resolve, reject) => {
    let settled = false;
    const fail = (why: string): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      o.cleanup?.();
      reject(new Error(`${what} ${why}:\n${output.slice(-2000)}`));
    };
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      fail(`did not start in ${timeoutMs} ms`);
    }, timeoutMs);
    const lines = (): ((d: Buffer) => void) => {
      let buf = '';
      return (d) => {
        const text = d.toString();
        output = output.length > 200_000 ? output.slice(-100_000) + text : output + text;
        if (settled) return;
        buf += text;
        let nl: number;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const ready = readyOf(buf.slice(0, nl));
          buf = buf.slice(nl + 1);
          if (ready === null) continue;
          settled = true;
          clearTimeout(timer);
          resolve({
            child,
            ready,
            output: () => output,
            stop: () => stopChild(child, o.graceMs).then(() => o.cleanup?.()),
          });
          return;
        }
      };
    };
    child.stdout!.on('data', lines());
    child.stderr!.on('data', lines());
    child.once('exit', (code, signal) => {
      live.delete(child);
      fail(`exited with ${code ?? signal} before it was ready`);
    });
  });
}

/** Whether something accepts a TCP connection on 127.0.0.1:`port`. */
export function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/** Resolves once `child` listens on `port`; throws (killing it) when it exits or `timeoutMs` passes. */
export async function waitForPort(port: number, child: ChildProcess, timeoutMs: number, what: string, output: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${what} exited: ${output().slice(-500)}`);
    if (await canConnect(port)) return;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`${what} did not listen within ${timeoutMs} ms: ${output().slice(-500)}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}
