/**
 * A Redis server of this test's own, for tests that stop, pause or flush it (never the shared one).
 */
import { after, before } from 'node:test';
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { Redis, type RedisOptions } from 'ioredis';

export interface PrivateRedis {
  readonly port: number;
  readonly url: string;
  pause(): void;
  resume(): void;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

export async function startPrivateRedis(): Promise<PrivateRedis> {
  const port = await freePort();
  const child: ChildProcess = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  // never outlives the test process (it may die before stop(), or the start may fail below)
  const killOnExit = (): void => {
    child.kill('SIGCONT');
    child.kill('SIGKILL');
  };
  process.once('exit', killOnExit);
  child.once('exit', () => process.off('exit', killOnExit));
  const url = `redis://127.0.0.1:${port}`;
  const probe = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  probe.on('error', () => undefined); // refused until the server is up
  for (let i = 0; ; i++) {
    try {
      await probe.connect();
      await probe.ping();
      break;
    } catch (err) {
      if (i > 100) {
        killOnExit();
        throw new Error(`private redis-server on ${port} did not start: ${(err as Error).message}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  probe.disconnect();
  let paused = false;
  return {
    port,
    url,
    pause() {
      paused = true;
      child.kill('SIGSTOP');
    },
    resume() {
      paused = false;
      child.kill('SIGCONT');
    },
    async stop() {
      if (child.exitCode !== null) return;
      if (paused) child.kill('SIGCONT');
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    },
  };
}

/**
 * A private server and a client of it for the whole test file (started in `before`, stopped in
 * `after`, resumed first if a test left it paused). The client gives a command one retry, so a
 * paused server shows as timeouts; `options` add to its options.
 */
export function privateRedisForFile(options: RedisOptions = {}): { readonly server: PrivateRedis; readonly redis: Redis } {
  const held = {} as { server: PrivateRedis; redis: Redis };
  before(async () => {
    held.server = await startPrivateRedis();
    held.redis = new Redis(held.server.url, { maxRetriesPerRequest: 1, ...options });
    await held.redis.ping();
  });
  after(async () => {
    held.server?.resume();
    held.redis?.disconnect();
    await held.server?.stop();
  });
  return held;
}
