import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { childEnv, redisUrl, ROOT } from '../../helpers/infra.js';
import { httpRequest, spawnRatewarden, waitFor, type RunningProcess } from '../../helpers/proc.js';

/**
 * With a Redis configured, the demo runs its built-in policy file with `store.kind: redis`. Its
 * reload watcher must compare each read of the file as the demo runs it: it used to take the
 * file's own `store: memory` for a change and reload at its first look (a warning that the store
 * cannot change, and the analyzer handed a memory-store policy).
 */
let demo: RunningProcess | null = null;
const dir = mkdtempSync(join(tmpdir(), 'rw-demo-reload-'));
after(async () => {
  await demo?.stop('SIGTERM', 10_000);
  rmSync(dir, { recursive: true, force: true });
});

const reloads = async (admin: string): Promise<number> => {
  const m = await httpRequest(`${admin}/metrics`);
  const line = m.text.split('\n').find((l) => l.startsWith('ratewarden_policy_reloads_total '));
  return Number(line?.split(' ')[1] ?? NaN);
};

test('the demo on Redis does not reload its own policy file unchanged, and does reload a real change', async () => {
  // the built-in file, at a path the demo recognises as its own (…/examples/demo-policy.yaml)
  mkdirSync(join(dir, 'examples'));
  const file = join(dir, 'examples', 'demo-policy.yaml');
  copyFileSync(join(ROOT, 'examples', 'demo-policy.yaml'), file);
  demo = spawnRatewarden(['demo', '--config', file, '--listen', '127.0.0.1:0', '--ui', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--no-traffic'], {
    env: childEnv({ REDIS_URL: redisUrl(), RW_ADMIN_TOKEN: 'demo-reload-token-0123456789' }),
  });
  const d = demo;
  await waitFor(() => d.stdout.find((l) => l.includes('UI login')), 'the demo banner', 30_000);
  assert.match(d.output(), /store redis/, 'the demo runs on Redis');
  const admin = /admin\s+(http:\/\/\S+?)\/metrics/.exec(d.stdout.join('\n'))?.[1];
  assert.ok(admin, `admin address in the banner:\n${d.output()}`);
  assert.equal(await reloads(admin), 0);

  // the file written again as it is: a change event, the same policy
  writeFileSync(file, readFileSync(file));
  await new Promise((r) => setTimeout(r, 2_500));
  assert.equal(await reloads(admin), 0, `no reload of the unchanged policy:\n${d.output()}`);
  assert.doesNotMatch(d.output(), /store\.kind changes only take effect after a restart/);

  // a real change is still applied, still on Redis (no store warning)
  writeFileSync(file, readFileSync(file, 'utf8').replace(/limit: 1200\b/, 'limit: 1201'));
  await waitFor(async () => ((await reloads(admin)) === 1 ? true : null), 'the changed policy applied', 15_000, 250);
  assert.doesNotMatch(d.output(), /store\.kind changes only take effect after a restart/);
});
