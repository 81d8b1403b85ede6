/**
 * A block or override may name a `header:<name>:<value>` or `route:<path>` client when a rule's key
 * uses that part (the operator API accepts such keys): it must match the requests it names, as the
 * rule keys them. It used to be written, answered 201, and match nothing: requests only offered
 * their apiKey/user/ip identities to the control plane.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createEngine } from '../../../sidecar/engine/index.js';
import { ControlState } from '../../../sidecar/control/controlState.js';
import type { BlockValue, ControlKind, OverrideValue } from '../../../models/control.js';
import { ManualClock, facts, policy } from './helpers.js';

const clock = new ManualClock();
const until = clock.t + 600_000;
let seq = 0;
function write(state: ControlState, kind: ControlKind, field: string, value: Omit<BlockValue, 'seq'> | Omit<OverrideValue, 'seq'> | null): void {
  seq++;
  state.apply({ v: 1, seq, kind, field, value: value === null ? null : ({ ...value, seq } as BlockValue) });
}

const p = policy(`
rules:
  - { id: tenants, match: { path: "/api/**" }, key: [header:X-Tenant], algorithm: fixed-window, limit: 100, window: 60s }
  - { id: routes, match: { path: "/search/**" }, key: [route, ip], algorithm: fixed-window, limit: 100, window: 60s }
`);

test('a block on a header: client blocks the requests carrying that header value, on every path', async () => {
  const state = new ControlState('s');
  const e = createEngine({ policy: p, service: 's', clock, control: state });
  write(state, 'block', 'header:x-tenant:acme', { until, reason: 'tenant abuse' });
  const acme = await e.decide(facts({ path: '/api/items', headers: { 'x-tenant': 'acme' } }));
  assert.equal(acme.kind, 'block');
  assert.equal((await e.decide(facts({ path: '/other', headers: { 'x-tenant': 'acme' } }))).kind, 'block');
  assert.equal((await e.decide(facts({ path: '/api/items', headers: { 'x-tenant': 'globex' } }))).kind, 'allow');
  assert.equal((await e.decide(facts({ path: '/api/items' }))).kind, 'allow', 'no header: not that tenant');
  // composite with the address, in either order
  write(state, 'block', 'header:x-tenant:acme', null);
  write(state, 'block', 'ip:10.9.9.9|header:x-tenant:globex', { until, reason: 'one office of a tenant' });
  assert.equal((await e.decide(facts({ ip: '10.9.9.9', path: '/api/items', headers: { 'x-tenant': 'globex' } }))).kind, 'block');
  assert.equal((await e.decide(facts({ ip: '10.9.9.8', path: '/api/items', headers: { 'x-tenant': 'globex' } }))).kind, 'allow');
});

test('a block or override on a route: client applies to that path', async () => {
  const state = new ControlState('s');
  const e = createEngine({ policy: p, service: 's', clock, control: state });
  write(state, 'override', 'routes|route:/search/expensive', { limit: 1, until, reason: 'slow endpoint' });
  assert.equal((await e.decide(facts({ path: '/search/expensive' }))).kind, 'allow');
  assert.equal((await e.decide(facts({ path: '/search/expensive' }))).kind, 'limit', 'the override (limit 1) applies');
  assert.equal((await e.decide(facts({ path: '/search/cheap' }))).kind, 'allow');
  assert.equal((await e.decide(facts({ path: '/search/cheap' }))).kind, 'allow');
  write(state, 'block', 'route:/search/cheap', { until, reason: 'endpoint closed' });
  assert.equal((await e.decide(facts({ path: '/search/cheap' }))).kind, 'block');
});

test('an override on a header: client changes the limit of that client only', async () => {
  const state = new ControlState('s');
  const e = createEngine({ policy: p, service: 's', clock, control: state });
  write(state, 'override', '*|header:x-tenant:acme', { limit: 1, until, reason: 'tighten' });
  const acme = { path: '/api/x', headers: { 'x-tenant': 'acme' } };
  assert.equal((await e.decide(facts(acme))).kind, 'allow');
  assert.equal((await e.decide(facts(acme))).kind, 'limit');
  const globex = { path: '/api/x', headers: { 'x-tenant': 'globex' } };
  assert.equal((await e.decide(facts(globex))).kind, 'allow');
  assert.equal((await e.decide(facts(globex))).kind, 'allow');
});

test('a policy keyed on no header or route offers no such identity', async () => {
  const state = new ControlState('s');
  const e = createEngine({ policy: policy('rules:\n  - { id: r, key: [ip], algorithm: fixed-window, limit: 100, window: 60s }\n'), service: 's', clock, control: state });
  write(state, 'block', 'header:x-tenant:acme', { until, reason: 'no rule keys on it' });
  assert.equal((await e.decide(facts({ headers: { 'x-tenant': 'acme' } }))).kind, 'allow');
});
