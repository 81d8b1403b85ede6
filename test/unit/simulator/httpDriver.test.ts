import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { driveHttp, runLoadSteps, runOfferedLoad } from '../../../simulator/drivers/http.js';
import { createSimulation } from '../../../simulator/generate.js';
import { startLiveTraffic } from '../../../simulator/live.js';
import { startStubUpstream, type StubUpstream } from '../../../simulator/stub-upstream.js';

let stub: StubUpstream;

before(async () => {
  stub = await startStubUpstream();
  // warm-up (JIT, connections), so the timing tests measure the driver, not a cold start
  const warm = createSimulation({ seed: 0, duration: '10m', population: { clients: 20 } });
  await driveHttp({ baseUrl: stub.url, calls: warm.calls(), ratePerSec: 1_000, durationMs: 300 }).done;
});

after(async () => {
  await stub.close();
});

test('at a fixed rate the driver sends and completes its target rate within 10% over two seconds', async () => {
  const sim = createSimulation({ seed: 1, duration: '1h', population: { clients: 100 } });
  const driver = driveHttp({ baseUrl: stub.url, calls: sim.calls(), ratePerSec: 300, durationMs: 2_000 });
  const stats = await driver.done;
  assert.equal(stats.skipped, 0);
  assert.deepEqual(stats.errors, {});
  assert.ok(Math.abs(stats.sent - 600) <= 60, `sent ${stats.sent}`);
  assert.equal(stats.completed, stats.sent);
  assert.ok(Math.abs(stats.offeredRatePerSec - 300) <= 30, `offered ${stats.offeredRatePerSec}/s`);
  assert.ok(stats.latency.count === stats.completed && stats.latency.p50 > 0);
});

test('by timestamps the driver replays simulated time at the given speed', async () => {
  // 20 s of a flat 100/s population at 10× speed: about 2 000 calls in about 2 s
  const sim = createSimulation({ seed: 2, duration: '20s', population: { clients: 50, ratePerSec: 100, patterns: false } });
  const expected = [...sim.calls()].length;
  const stats = await driveHttp({ baseUrl: stub.url, calls: sim.calls(), speed: 10, simStartMs: sim.startMs, maxInFlight: 2_000 }).done;
  assert.equal(stats.sent, expected);
  assert.equal(stats.completed, expected);
  assert.ok(stats.elapsedMs > 1_700 && stats.elapsedMs < 4_000, `took ${stats.elapsedMs} ms`);
});

test('requests carry the raw API key, the caller’s IP in X-Forwarded-For, its User-Agent and its body', async () => {
  const seen: Array<{ method: string; url: string; headers: IncomingHttpHeaders; body: string }> = [];
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      seen.push({ method: req.method!, url: req.url!, headers: req.headers, body });
      res.end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const sim = createSimulation({ seed: 3, duration: '10m', population: { clients: 30 } });
    const calls = [...sim.calls()].slice(0, 200);
    await driveHttp({ baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, calls, ratePerSec: 1000 }).done;
    assert.equal(seen.length, 200);
    const byTarget = new Map(seen.map((s) => [`${s.method} ${s.url} ${s.headers['x-forwarded-for']}`, s]));
    for (const c of calls) {
      const s = byTarget.get(`${c.method} ${c.query ? `${c.path}?${c.query}` : c.path} ${c.event.ip}`);
      assert.ok(s, `${c.method} ${c.path} not received`);
      assert.equal(s.headers['x-api-key'], c.apiKey ?? undefined);
      assert.equal(s.headers['user-agent'], c.userAgent);
      if (c.body !== null) {
        assert.equal(s.headers['content-type'], 'application/json');
        assert.ok(seen.some((x) => x.body === c.body));
      }
    }
    assert.ok(calls.some((c) => c.apiKey !== null) && calls.some((c) => c.body !== null));
  } finally {
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }
});

test('stop() ends an endless run promptly and reports what was sent', async () => {
  const sim = createSimulation({ seed: 4, startMs: Date.now(), duration: Infinity, population: { clients: 20, ratePerSec: 50, patterns: false } });
  const driver = driveHttp({ baseUrl: stub.url, calls: sim.calls(), simStartMs: sim.startMs });
  await new Promise((r) => setTimeout(r, 600));
  assert.ok(driver.stats().sent > 5);
  const t0 = performance.now();
  const stats = await driver.stop();
  assert.ok(performance.now() - t0 < 500);
  assert.equal(stats.inFlight, 0);
  assert.ok(stats.completed > 5);
});

test('an unreachable target is counted as transport errors, never thrown', async () => {
  const sim = createSimulation({ seed: 5, duration: '1m', population: { clients: 5 } });
  const stats = await driveHttp({ baseUrl: 'http://127.0.0.1:1', calls: [...sim.calls()].slice(0, 20), ratePerSec: 200, timeoutMs: 1_000 }).done;
  assert.equal(stats.completed, 0);
  assert.equal(Object.values(stats.errors).reduce((a, b) => a + b, 0), 20);
});

test('when maxInFlight requests are outstanding, due requests are skipped and counted, not queued', async () => {
  const slow = await startStubUpstream({ latencyMs: 500 });
  try {
    const sim = createSimulation({ seed: 6, duration: '1h', population: { clients: 20 } });
    const stats = await driveHttp({ baseUrl: slow.url, calls: sim.calls(), ratePerSec: 200, durationMs: 400, maxInFlight: 10 }).done;
    assert.equal(stats.sent, 10);
    assert.ok(stats.skipped > 50, `skipped ${stats.skipped}`);
    assert.equal(slow.stats().maxInFlight, 10);
  } finally {
    await slow.close();
  }
});

test('calls are counted per ground-truth group: normal traffic and each attack', async () => {
  const sim = createSimulation({ seed: 7, duration: '2m', population: { clients: 20 }, scenarios: [{ name: 'credential-stuffing', at: 0, duration: '2m', attackers: 3, intensity: 3 }] });
  const calls = [...sim.calls()].slice(0, 600);
  const stats = await driveHttp({ baseUrl: stub.url, calls, ratePerSec: 2000 }).done;
  const attack = stats.groups['credential-stuffing#0']!;
  assert.ok(attack.completed > 20);
  assert.ok((attack.byStatus['401'] ?? 0) / attack.completed > 0.8);
  assert.ok((stats.groups.normal!.byStatus['401'] ?? 0) / stats.groups.normal!.completed < 0.05);
});

test('offered load records statuses and latency per tier at a fixed rate', async () => {
  const result = await runOfferedLoad({
    baseUrl: stub.url,
    ratePerSec: 200,
    durationMs: 1_500,
    tiers: [
      { tier: 'free', share: 0.75, apiKeys: ['k-free-1', 'k-free-2'] },
      { tier: 'pro', share: 0.25, apiKeys: ['k-pro-1'] },
    ],
  });
  assert.ok(Math.abs(result.sent - 300) <= 30, `sent ${result.sent}`);
  assert.ok(Math.abs(result.offeredRatePerSec - 200) <= 20);
  const free = result.tiers.free!;
  const pro = result.tiers.pro!;
  assert.ok(Math.abs(free.sent / result.sent - 0.75) < 0.08);
  assert.equal(free.byStatus['200'], free.completed);
  assert.equal(pro.latency.count, pro.completed);
  assert.ok(free.goodputPerSec > 100 && pro.goodputPerSec > 25);
});

test('offered-load steps against a fixed-capacity upstream show goodput saturating and 503s beyond capacity', async () => {
  // 4 workers × 20 ms ≈ 200/s capacity
  const limited = await startStubUpstream({ capacity: { workers: 4, serviceMs: 20, queueLimit: 8 } });
  try {
    const results = await runLoadSteps({ baseUrl: limited.url, tiers: [{ tier: 'free', share: 1, apiKeys: ['k'] }] }, [
      { ratePerSec: 100, durationMs: 1_000 },
      { ratePerSec: 600, durationMs: 1_000 },
    ]);
    const [low, high] = results.map((r) => r.tiers.free!);
    assert.equal(low!.byStatus['503'] ?? 0, 0);
    assert.ok((high!.byStatus['503'] ?? 0) > 100, JSON.stringify(high!.byStatus));
    assert.ok(high!.goodputPerSec < 300, `goodput ${high!.goodputPerSec}/s`);
    assert.ok(high!.latency.p90 > low!.latency.p50);
  } finally {
    await limited.close();
  }
});

test('live traffic sends normal clients and an attacker in real time', async () => {
  const live = startLiveTraffic({ baseUrl: stub.url, clients: 10, ratePerSec: 40, attacks: [{ name: 'scraping', at: '200ms', duration: '10s', intensity: 5 }] });
  await new Promise((r) => setTimeout(r, 1_500));
  const stats = await live.stop();
  assert.equal(live.labels.length, 1);
  assert.ok((stats.groups.normal?.completed ?? 0) > 20, JSON.stringify(stats));
  assert.ok((stats.groups['scraping#0']?.completed ?? 0) > 10, JSON.stringify(stats));
});
