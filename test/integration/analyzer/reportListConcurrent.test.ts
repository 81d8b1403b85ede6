/**
 * The Redis report store's list under writes that land while it reads (analyzer/api/README.md: "a
 * position, not an offset: reports detected or changing status meanwhile neither repeat nor skip an
 * item"). A filtered list reads its index in batches; it used to page those batches by offset, so a
 * status change between two batches skipped reports for good (listing `open` 3 at a time while two
 * newer reports were confirmed: r5 and r6 were never listed), and a report detected between two
 * batches repeated one inside the page (`[c3, c4, c4]`). Writes are made to land between two reads
 * of the index by a client that runs them right after the store's first read.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Redis } from 'ioredis';
import { RedisReportStore } from '../../../analyzer/reports/redisStore.js';
import type { AnomalyReport } from '../../../models/anomaly.js';
import { connectRedis, uniqueName } from '../../helpers/infra.js';
import { NOW, report } from '../../unit/analyzer/reportStoreContract.js';

let redis: Redis;
const prefixes: string[] = [];

before(async () => {
  redis = await connectRedis();
});

after(async () => {
  for (const p of prefixes) {
    const stale = await redis.keys(`{${p}}*`);
    if (stale.length) await redis.del(...stale);
  }
  redis?.disconnect();
});

/** The same Redis, but `meanwhile` runs after the first read of an index and before the store sees its answer. */
function interleaved(meanwhile: () => Promise<void>): Redis {
  let reads = 0;
  return new Proxy(redis, {
    get(target, key) {
      if (key === 'zrevrangebyscore') {
        return async (...args: unknown[]) => {
          const out = await (target.zrevrangebyscore as (...a: unknown[]) => Promise<string[]>)(...args);
          if (++reads === 1) await meanwhile();
          return out;
        };
      }
      const v = Reflect.get(target, key, target) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}

function stores(): { plain: RedisReportStore; prefix: string } {
  const prefix = uniqueName('rwtest-an-rlist');
  prefixes.push(prefix);
  return { plain: new RedisReportStore(redis, { prefix }), prefix };
}

async function allPages(store: RedisReportStore, query: { status?: AnomalyReport['status']; client?: string; limit: number }): Promise<string[][]> {
  const pages: string[][] = [];
  let cursor: string | undefined;
  do {
    const page = await store.list({ ...query, ...(cursor ? { cursor } : {}) });
    pages.push(page.items.map((r) => r.id));
    cursor = page.next ?? undefined;
  } while (cursor && pages.length < 10);
  return pages;
}

test('reports changing status while a page is read skip nothing of the pages after', async () => {
  const { plain, prefix } = stores();
  for (let i = 1; i <= 8; i++) await plain.create(report(`r${i}`, { ts: NOW - i, status: 'open' }));
  let once = false;
  const store = new RedisReportStore(
    interleaved(async () => {
      if (once) return;
      once = true;
      for (const id of ['r1', 'r2']) assert.ok((await plain.transition(id, { from: ['open'], to: 'confirmed', entry: { ts: NOW, who: 'ops', what: 'confirmed' } })).ok);
    }),
    { prefix },
  );
  const pages = await allPages(store, { status: 'open', limit: 3 });
  assert.deepEqual(pages.flat(), ['r3', 'r4', 'r5', 'r6', 'r7', 'r8'], `pages ${JSON.stringify(pages)}`);
});

test('a report detected while a page is read repeats nothing inside the page', async () => {
  const { plain, prefix } = stores();
  const client = 'user:carol';
  for (let i = 1; i <= 6; i++) await plain.create(report(`c${i}`, { ts: NOW - i, client, status: i <= 2 ? 'confirmed' : 'open' }));
  let once = false;
  const store = new RedisReportStore(
    interleaved(async () => {
      if (once) return;
      once = true;
      assert.ok(await plain.create(report('c0', { ts: NOW, client, status: 'confirmed' })));
    }),
    { prefix },
  );
  const page = await store.list({ client, status: 'open', limit: 3 });
  assert.deepEqual(
    page.items.map((r) => r.id),
    ['c3', 'c4', 'c5'],
  );
  assert.ok(page.next);
  assert.deepEqual((await store.list({ client, status: 'open', limit: 3, cursor: page.next })).items.map((r) => r.id), ['c6']);
});

test('many reports of one detection time are paged through whole, each once', async () => {
  const { plain } = stores();
  const ids = Array.from({ length: 25 }, (_, i) => `s${String(i).padStart(2, '0')}`);
  for (const id of ids) await plain.create(report(id, { ts: NOW, status: id < 's10' ? 'confirmed' : 'open' }));
  const pages = await allPages(plain, { status: 'open', limit: 4 });
  assert.deepEqual(pages.flat(), ids.filter((id) => id >= 's10').reverse());
  const byClient = await allPages(plain, { client: report('x').client, status: 'open', limit: 4 });
  assert.deepEqual(byClient.flat(), ids.filter((id) => id >= 's10').reverse());
});
