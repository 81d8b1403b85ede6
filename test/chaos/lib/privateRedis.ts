/**
 * Redis servers of a test's own — never the shared ones on 16379 / 17001-17006 — so chaos and
 * security tests may pause (SIGSTOP), kill (SIGKILL) and restart them at will:
 *
 *   const r = await startPrivateRedis({ password: 's3cret' });   // AUTH
 *   const t = await startPrivateRedis({ tls: true });            // TLS only; t.caFile for clients
 *   r.pause(); r.resume(); await r.kill(); await r.start();      // same port, empty data
 *   const c = await startPrivateCluster();                       // 3 primaries + 3 replicas
 *   await (await c.primaryOf('some-key')).kill(); await c.waitHealthy();
 *
 * Every process started here is SIGKILLed when the test process exits, as a safety net.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Redis, Cluster } from 'ioredis';
import { freePort, tempDir } from '../../helpers/proc.js';

const live = new Set<ChildProcess>();
let hooked = false;
function track(child: ChildProcess): void {
  live.add(child);
  child.once('exit', () => live.delete(child));
  if (hooked) return;
  hooked = true;
  process.once('exit', () => {
    for (const c of live) {
      try {
        c.kill('SIGCONT');
        c.kill('SIGKILL');
      } catch {
        // gone
      }
    }
  });
}

export interface TlsFiles {
  readonly dir: string;
  readonly caFile: string;
  readonly certFile: string;
  readonly keyFile: string;
}

/** A throwaway CA and a server certificate for 127.0.0.1 / localhost (openssl, in a temp dir). */
export function makeTlsFiles(): TlsFiles {
  const dir = tempDir('rw-tls-');
  const run = (args: string[]): void => {
    const r = spawnSync('openssl', args, { cwd: dir, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`openssl ${args[0]} failed: ${r.stderr}`);
  };
  run(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=ratewarden-test-ca']);
  run(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=127.0.0.1']);
  writeFileSync(join(dir, 'ext.cnf'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  run(['x509', '-req', '-in', 'server.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.crt', '-days', '2', '-extfile', 'ext.cnf']);
  return { dir, caFile: join(dir, 'ca.crt'), certFile: join(dir, 'server.crt'), keyFile: join(dir, 'server.key') };
}

export interface PrivateRedisOptions {
  readonly port?: number;
  /** `--requirepass`: clients must AUTH. */
  readonly password?: string;
  /** TLS only (`--port 0 --tls-port P`), with a fresh CA unless `tlsFiles` is given. */
  readonly tls?: boolean;
  readonly tlsFiles?: TlsFiles;
  /** Extra redis-server arguments. */
  readonly args?: readonly string[];
}

export interface PrivateRedis {
  readonly port: number;
  /** redis:// (or rediss://) URL with the password when there is one. */
  readonly url: string;
  readonly tls: TlsFiles | null;
  pid(): number | null;
  running(): boolean;
  /** Starts it (again) on the same port and waits until it answers PING. */
  start(): Promise<void>;
  /** SIGSTOP: connections stay open, nothing answers. */
  pause(): void;
  /** SIGCONT. */
  resume(): void;
  /** SIGKILL (a crash); data is lost (no persistence). */
  kill(): Promise<void>;
  /** SIGTERM and wait. */
  stop(): Promise<void>;
}

/** A standalone redis-server on its own port (127.0.0.1), no persistence. */
export async function startPrivateRedis(opts: PrivateRedisOptions = {}): Promise<PrivateRedis> {
  const port = opts.port ?? (await freePort());
  const tls = opts.tls ? (opts.tlsFiles ?? makeTlsFiles()) : null;
  const dir = tempDir('rw-redis-');
  const args = ['--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--protected-mode', 'no', ...(opts.args ?? [])];
  if (tls) args.push('--port', '0', '--tls-port', String(port), '--tls-cert-file', tls.certFile, '--tls-key-file', tls.keyFile, '--tls-ca-cert-file', tls.caFile, '--tls-auth-clients', 'no');
  else args.push('--port', String(port));
  if (opts.password) args.push('--requirepass', opts.password);
  const auth = opts.password ? `:${encodeURIComponent(opts.password)}@` : '';
  const url = `${tls ? 'rediss' : 'redis'}://${auth}127.0.0.1:${port}`;

  let child: ChildProcess | null = null;
  let exited: Promise<void> = Promise.resolve();
  let paused = false;
  const running = (): boolean => child !== null && child.exitCode === null && child.signalCode === null;

  const r: PrivateRedis = {
    port,
    url,
    tls,
    pid: () => (running() ? child!.pid! : null),
    running,
    async start() {
      if (running()) return;
      const c = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      c.stdout!.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-2000)));
      c.stderr!.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-2000)));
      track(c);
      child = c;
      paused = false;
      exited = new Promise((resolve) => c.once('exit', () => resolve()));
      const probe = new Redis(url, {
        lazyConnect: true,
        maxRetriesPerRequest: 0,
        retryStrategy: () => null,
        connectTimeout: 500,
        ...(tls ? { tls: { ca: [readCa(tls)] } } : {}),
      });
      probe.on('error', () => undefined);
      try {
        for (let i = 0; ; i++) {
          if (c.exitCode !== null) throw new Error(`redis-server on ${port} exited during start-up:\n${out}`);
          try {
            await probe.connect();
            await probe.ping();
            return;
          } catch (err) {
            probe.disconnect();
            if (i > 200) throw new Error(`private redis-server on ${port} did not answer: ${(err as Error).message}\n${out}`);
            await sleep(25);
          }
        }
      } finally {
        probe.disconnect();
      }
    },
    pause() {
      if (!running()) return;
      paused = true;
      child!.kill('SIGSTOP');
    },
    resume() {
      if (!running()) return;
      paused = false;
      child!.kill('SIGCONT');
    },
    async kill() {
      if (!running()) return;
      if (paused) child!.kill('SIGCONT');
      child!.kill('SIGKILL');
      await exited;
    },
    async stop() {
      if (!running()) return;
      if (paused) child!.kill('SIGCONT');
      child!.kill('SIGTERM');
      const timer = setTimeout(() => child?.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    },
  };
  await r.start();
  return r;
}

function readCa(tls: TlsFiles): Buffer {
  return readFileSync(tls.caFile);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

// ------------------------------------------------------------------ a private Redis Cluster

export interface PrivateCluster {
  readonly nodes: readonly PrivateRedis[];
  /** `host:port,…` of every node, for REDIS_CLUSTER_NODES. */
  readonly seeds: string;
  /** The node currently serving `key`'s slot as primary. */
  primaryOf(key: string): Promise<PrivateRedis>;
  /** Whether every node that runs says cluster_state:ok and every slot has a reachable primary. */
  healthy(): Promise<boolean>;
  waitHealthy(timeoutMs?: number): Promise<void>;
  /** Waits until every slot `dead` served is served by a running primary and the cluster is ok. */
  waitFailover(dead: PrivateRedis, timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Six redis-server processes in cluster mode (3 primaries, 3 replicas) with a short node timeout
 * (failover in a few seconds), formed with `redis-cli --cluster create`.
 */
export async function startPrivateCluster(opts: { nodeTimeoutMs?: number } = {}): Promise<PrivateCluster> {
  const nodes: PrivateRedis[] = [];
  for (let i = 0; i < 6; i++) {
    // the bus port defaults to port + 10000, which does not exist above 55535 (a free port may be
    // up to 60999): Redis refused to start one node in most runs. An own free port for it.
    const busPort = await freePort();
    nodes.push(
      await startPrivateRedis({
        args: ['--cluster-enabled', 'yes', '--cluster-port', String(busPort), '--cluster-config-file', `nodes-${i}.conf`, '--cluster-node-timeout', String(opts.nodeTimeoutMs ?? 2_000), '--cluster-replica-validity-factor', '0', '--appendonly', 'no'],
      }),
    );
  }
  const addrs = nodes.map((n) => `127.0.0.1:${n.port}`);
  const created = spawnSync('redis-cli', ['--cluster', 'create', ...addrs, '--cluster-replicas', '1', '--cluster-yes'], { encoding: 'utf8', timeout: 60_000 });
  if (created.status !== 0) {
    await Promise.all(nodes.map((n) => n.kill()));
    throw new Error(`redis-cli --cluster create failed: ${created.stdout}\n${created.stderr}`);
  }
  const info = async (n: PrivateRedis, what: string[]): Promise<string | null> => {
    if (!n.running()) return null;
    const c = new Redis(n.port, '127.0.0.1', { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 500, commandTimeout: 1_000 });
    c.on('error', () => undefined);
    try {
      await c.connect();
      return String(await c.call(what[0]!, ...what.slice(1)));
    } catch {
      return null;
    } finally {
      c.disconnect();
    }
  };
  const cluster: PrivateCluster = {
    nodes,
    seeds: addrs.join(','),
    async primaryOf(key) {
      for (const n of nodes) {
        const text = await info(n, ['CLUSTER', 'KEYSLOT', key]);
        if (text === null) continue;
        const slot = Number(text);
        const c = new Cluster([{ host: '127.0.0.1', port: n.port }], { lazyConnect: true, redisOptions: { connectTimeout: 500 } });
        c.on('error', () => undefined);
        try {
          await c.connect();
          const slots = (await c.cluster('SLOTS')) as unknown as Array<[number, number, [string, number, ...unknown[]], ...unknown[]]>;
          for (const [from, to, primary] of slots) {
            if (slot >= from && slot <= to) {
              const found = nodes.find((x) => x.port === primary[1]);
              if (found) return found;
            }
          }
        } finally {
          c.disconnect();
        }
      }
      throw new Error(`no node serves the slot of ${key}`);
    },
    async healthy() {
      let primaries = 0;
      for (const n of nodes) {
        if (!n.running()) continue;
        const text = await info(n, ['CLUSTER', 'INFO']);
        if (text === null || !/cluster_state:ok/.test(text)) return false;
        const nodesText = await info(n, ['CLUSTER', 'NODES']);
        if (nodesText === null) return false;
        primaries = nodesText.split('\n').filter((l) => /\bmaster\b/.test(l) && !/\bfail\b/.test(l) && /\d+-\d+|\s\d+$/.test(l.trim())).length;
      }
      return primaries >= 3;
    },
    async waitHealthy(timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      while (!(await cluster.healthy())) {
        if (Date.now() > deadline) throw new Error(`the private cluster did not become healthy within ${timeoutMs} ms`);
        await sleep(100);
      }
    },
    async waitFailover(dead, timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const live = nodes.find((n) => n.running() && n !== dead);
        const text = live ? await info(live, ['CLUSTER', 'NODES']) : null;
        const deadLine = text?.split('\n').find((l) => l.includes(`:${dead.port}@`));
        const promoted = deadLine !== undefined && !/\bmaster\b/.test(deadLine);
        const servesSlots = text?.split('\n').some((l) => l.includes(`:${dead.port}@`) && /\s\d+-\d+/.test(l));
        if (promoted || (deadLine !== undefined && /\bfail\b/.test(deadLine) && !servesSlots)) {
          if (await cluster.healthy()) return;
        }
        if (Date.now() > deadline) throw new Error(`no failover of ${dead.port} within ${timeoutMs} ms:\n${text}`);
        await sleep(50);
      }
    },
    async stop() {
      await Promise.all(nodes.map((n) => n.kill()));
    },
  };
  await cluster.waitHealthy(30_000);
  return cluster;
}
