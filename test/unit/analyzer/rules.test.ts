import { test } from 'node:test';
import assert from 'node:assert/strict';
import { F, FEATURE_COUNT } from '../../../models/features.js';
import type { Expectation } from '../../../analyzer/baselines/expectation.js';
import { compromisedKey, evaluateRules, isCredentialKey, keySharing, keySharingBurst, LowAndSlowState, ruleScore } from '../../../analyzer/detectors/rules.js';
import { DEFAULT_DETECTION } from '../../../analyzer/options.js';
import { KeyIdentities, type KeyIdentitiesState } from '../../../analyzer/recentIps.js';
import { hashString } from '../../../models/featureSketches.js';

const R10 = DEFAULT_DETECTION.rules10s;

function window(values: Partial<Record<keyof typeof F, number>>): Float64Array {
  const v = new Float64Array(FEATURE_COUNT);
  v[F.newRouteShare] = 0;
  for (const [k, x] of Object.entries(values)) v[F[k as keyof typeof F]] = x!;
  return v;
}

/** A client with its own history: `normal` in the feature's units. */
function own(normal: Partial<Record<keyof typeof F, number>>, source: Expectation['source'] = 'client', ceiling?: Partial<Record<keyof typeof F, number>>): Expectation {
  const raw = new Float64Array(FEATURE_COUNT);
  for (const [k, x] of Object.entries(normal)) raw[F[k as keyof typeof F]] = x!;
  const high = Float64Array.from(raw);
  for (const [k, x] of Object.entries(ceiling ?? {})) high[F[k as keyof typeof F]] = x!;
  return { centre: raw.map((x) => Math.log1p(x)), sigma: new Float64Array(FEATURE_COUNT).fill(0.2), raw, ceiling: high, source, clientWeight: source === 'client' ? 1 : 0, seasonal: null };
}

const NORMAL = { requests: 20, ratio401403: 0.01, distinctRoutes: 5, distinctIps: 1 };

test('a rule scores 0.75 at its threshold and approaches 1 with the margin', () => {
  assert.equal(ruleScore(0.99), 0);
  assert.equal(ruleScore(1), 0.75);
  assert.ok(ruleScore(2) > 0.89 && ruleScore(2) < 0.91);
  assert.ok(ruleScore(10) > 0.98);
  assert.equal(ruleScore(10, 0.85), 0.85);
});

test('credential stuffing: many 401/403 answers fire; a few failed logins do not', () => {
  const hits = evaluateRules(window({ requests: 120, ratio401403: 0.95 }), own(NORMAL), R10, 10_000, DEFAULT_DETECTION.youngVolumeFactor);
  assert.deepEqual(hits.map((h) => h.rule), ['credential_stuffing']);
  assert.match(hits[0]!.text, /114 of 120 requests answered 401\/403/);
  assert.deepEqual(evaluateRules(window({ requests: 4, ratio401403: 0.75 }), own(NORMAL), R10, 10_000, DEFAULT_DETECTION.youngVolumeFactor), []);
});

test('credential stuffing is judged against the client: a client that always fails a lot needs more', () => {
  const noisy = own({ requests: 100, ratio401403: 0.3 });
  assert.deepEqual(evaluateRules(window({ requests: 100, ratio401403: 0.55 }), noisy, R10, 10_000, DEFAULT_DETECTION.youngVolumeFactor), []);
});

test('scraping: many distinct, never-seen routes fire; so does walking ids in order', () => {
  const wide = evaluateRules(window({ requests: 60, distinctRoutes: 58, newRouteShare: 0.95 }), own(NORMAL), R10, 10_000, DEFAULT_DETECTION.youngVolumeFactor);
  assert.deepEqual(wide.map((h) => h.rule), ['scraping']);
  const walk = evaluateRules(window({ requests: 30, distinctRoutes: 30, newRouteShare: 0.9, sequentialIdShare: 0.95 }), own(NORMAL), R10, 10_000, DEFAULT_DETECTION.youngVolumeFactor);
  assert.deepEqual(walk.map((h) => h.rule), ['scraping']);
  assert.match(walk[0]!.text, /ids walked in order/);
  // many routes this client knows already: not scraping
  assert.deepEqual(evaluateRules(window({ requests: 60, distinctRoutes: 58, newRouteShare: 0.1 }), own(NORMAL), R10, 10_000, DEFAULT_DETECTION.youngVolumeFactor), []);
});

test('volumetric: far above its own baseline fires; a young client is compared with what busy peers reach', () => {
  assert.deepEqual(evaluateRules(window({ requests: 400 }), own(NORMAL), R10, 10_000, DEFAULT_DETECTION.youngVolumeFactor).map((h) => h.rule), ['volumetric']);
  assert.deepEqual(evaluateRules(window({ requests: 100 }), own(NORMAL), R10, 10_000, DEFAULT_DETECTION.youngVolumeFactor), []);
  const peers = own({ requests: 3 }, 'population', { requests: 150 });
  // 250 is 80× the median peer but under 2 × the 99th percentile: a big newcomer, not a flood
  assert.deepEqual(evaluateRules(window({ requests: 250 }), peers, R10, 10_000, DEFAULT_DETECTION.youngVolumeFactor), []);
  assert.deepEqual(evaluateRules(window({ requests: 400 }), peers, R10, 10_000, DEFAULT_DETECTION.youngVolumeFactor).map((h) => h.rule), ['volumetric']);
});

test('rules that need a baseline stay silent while there is none', () => {
  const none = own({ requests: NaN, distinctRoutes: NaN }, 'none');
  assert.deepEqual(evaluateRules(window({ requests: 5_000, distinctRoutes: 900, newRouteShare: 1 }), none, R10, 10_000, DEFAULT_DETECTION.youngVolumeFactor), []);
  // credential stuffing means the same for anyone
  assert.deepEqual(evaluateRules(window({ requests: 100, ratio401403: 1 }), none, R10, 10_000, DEFAULT_DETECTION.youngVolumeFactor).map((h) => h.rule), ['credential_stuffing']);
});

test('key sharing: dozens of IPs on one key in ten minutes fire; a mobile key’s handful does not', () => {
  const t = DEFAULT_DETECTION.keySharing;
  assert.equal(keySharing(8, 3, t), null);
  const hit = keySharing(40, 3, t)!;
  assert.equal(hit.rule, 'key_sharing');
  assert.match(hit.text, /40 IPs in the last 10 minutes/);
  assert.equal(keySharing(20, 8, t), null, 'a key that usually has 8 IPs needs 2 × 8 + 6');
  assert.ok(isCredentialKey('apiKey:0011223344556677'));
  assert.ok(!isCredentialKey('ip:10.0.0.1'));
  assert.ok(!isCredentialKey('apiKey:0011223344556677|ip:10.0.0.1'));
});

test('compromised key: an established key suddenly used from new IPs with a new user agent', () => {
  const t = DEFAULT_DETECTION.compromisedKey;
  const ids = new KeyIdentities(0);
  for (let m = 0; m < 30; m++) ids.observe(hashString('10.0.0.1'), hashString('owner-ua'), m);
  assert.equal(ids.strangerRequests(29), 0);
  for (let i = 0; i < 12; i++) ids.observe(hashString(`35.1.1.${i % 3}`), hashString('curl/8'), 30 + (i >> 2));
  ids.observe(hashString('10.0.0.1'), hashString('owner-ua'), 32);
  assert.equal(ids.strangerRequests(32), 12);
  const hit = compromisedKey(ids.strangerRequests(32), ids.strangerAddresses(32), t)!;
  assert.equal(hit.rule, 'compromised_key');
  // the default bar: a new agent from one new host is what an owner's new device looks like; from a second new host it is not
  const one = established();
  one.observe(hashString('35.1.1.1'), hashString('curl/8'), 30);
  one.observe(hashString('35.1.1.1'), hashString('curl/8'), 30);
  assert.equal(compromisedKey(one.strangerRequests(30), one.strangerAddresses(30), t), null);
  one.observe(hashString('35.1.1.2'), hashString('curl/8'), 30);
  assert.ok(compromisedKey(one.strangerRequests(30), one.strangerAddresses(30), t));
  // a new IP with the owner's agent (a phone changing networks) is not a stranger
  const phone = new KeyIdentities(0);
  for (let m = 0; m < 30; m++) phone.observe(hashString('10.0.0.1'), hashString('app'), m);
  for (let i = 0; i < 20; i++) phone.observe(hashString(`100.64.0.${i}`), hashString('app'), 31);
  assert.equal(phone.strangerRequests(31), 0);
});

test('compromised key counts the new addresses strangers came from, not every new address', () => {
  const t = { minRequests: 5, minNewIps: 2 };
  // the owner's new laptop (one new address, a new agent) while the owner's phone roams to a new network
  const owner = established();
  for (let i = 0; i < 6; i++) owner.observe(hashString('82.1.1.1'), hashString('Firefox/125'), 30 + i);
  owner.observe(hashString('100.64.0.9'), hashString('owner-ua'), 33);
  assert.equal(owner.strangerRequests(35), 6);
  assert.equal(owner.ips.seenSince(26), 3, 'the office address and two new ones …');
  assert.equal(owner.strangerAddresses(35), 1, '… one of them a stranger\'s');
  assert.equal(compromisedKey(owner.strangerRequests(35), owner.strangerAddresses(35), t), null);
  // an intruder with one agent over two hosts: the rule's bar, request by request
  const taken = established();
  const hosts = ['35.1.1.1', '35.1.1.2'];
  for (let i = 0; i < 4; i++) taken.observe(hashString(hosts[i % 2]!), hashString('python-requests/2.31'), 30);
  assert.equal(taken.strangerAddresses(30), 2);
  assert.equal(compromisedKey(taken.strangerRequests(30), taken.strangerAddresses(30), t), null, 'four requests are one short');
  taken.observe(hashString('35.1.1.1'), hashString('python-requests/2.31'), 30);
  const hit = compromisedKey(taken.strangerRequests(30), taken.strangerAddresses(30), t)!;
  assert.equal(hit.margin, 1);
  assert.match(hit.text, /5 requests in the last 10 minutes from 2 new IPs with a user agent this key never used before/);
  // ten minutes on, the strangers have left the span
  assert.equal(taken.strangerAddresses(40), 0);
});

/** A key used for 30 minutes from one office address with one agent. */
function established(): KeyIdentities {
  const ids = new KeyIdentities(0);
  for (let m = 0; m < 30; m++) ids.observe(hashString('10.0.0.1'), hashString('owner-ua'), m);
  return ids;
}

test('new devices: a request bringing both an IP and an agent the key never showed counts once, nothing else does', () => {
  const ids = established();
  assert.equal(ids.debutsSince(29, 2), 0, 'the owner');
  // three people the key was handed to, each with their own device and network
  ids.observe(hashString('82.1.1.1'), hashString('Firefox/125'), 30);
  ids.observe(hashString('82.1.1.1'), hashString('Firefox/125'), 30); // the same device again: a stranger, not a new device
  ids.observe(hashString('90.2.2.2'), hashString('okhttp/4.12'), 31);
  ids.observe(hashString('71.3.3.3'), hashString('Safari/17.4'), 31);
  assert.equal(ids.debutsSince(31, 2), 3);
  assert.equal(ids.debutsSince(31, 1), 2, 'the last minute only');
  assert.equal(ids.strangerRequests(31), 4);
  // a fourth sharer whose agent an earlier one brought: a stranger (new IP, agent new within ten minutes) but no new device
  ids.observe(hashString('24.4.4.4'), hashString('okhttp/4.12'), 32);
  assert.equal(ids.debutsSince(32, 2), 2, 'minute 30 has left the two-minute span');
  assert.equal(ids.debutsSince(32, 10), 3);
  assert.equal(ids.strangerRequests(32), 5);
  assert.equal(ids.debutsSince(40, 10), 2, 'minutes 31–40');
  assert.equal(ids.debutsSince(41, 10), 0, 'ten minutes later they are all forgotten');

  // what an owner does: a browser update (new agent, known address), a phone changing networks
  // (new addresses, known agent), a fleet rolled out on new hosts (one new agent on many addresses)
  const owner = established();
  owner.observe(hashString('10.0.0.1'), hashString('owner-ua/2'), 30);
  for (let i = 0; i < 5; i++) owner.observe(hashString(`100.64.0.${i}`), hashString('owner-ua'), 30);
  for (let i = 0; i < 8; i++) owner.observe(hashString(`35.0.0.${i}`), hashString('sdk/2.0'), 31);
  assert.equal(owner.debutsSince(31, 2), 1, 'the rollout’s first host only');
  // no agent: never a new device
  owner.observe(hashString('45.0.0.1'), 0, 31);
  assert.equal(owner.debutsSince(31, 2), 1);

  // a young key's first devices are its owner's
  const young = new KeyIdentities(0);
  for (let i = 0; i < 5; i++) young.observe(hashString(`82.0.0.${i}`), hashString(`ua-${i}`), 3);
  assert.equal(young.debutsSince(3, 2), 0);
});

test('observe says when a request moved what the identity rules read: a new address or a stranger', () => {
  const ids = established();
  assert.equal(ids.observe(hashString('10.0.0.1'), hashString('owner-ua'), 30), false, 'the owner as usual');
  assert.equal(ids.observe(hashString('10.0.0.1'), hashString('owner-ua/2'), 30), false, 'a browser update: new agent, known address');
  assert.equal(ids.observe(hashString('100.64.0.1'), hashString('owner-ua'), 30), true, 'a new address');
  assert.equal(ids.observe(hashString('100.64.0.1'), hashString('owner-ua'), 30), false, 'the same address again');
  assert.equal(ids.observe(hashString('82.1.1.1'), hashString('Firefox/125'), 31), true, 'a stranger');
  assert.equal(ids.observe(hashString('82.1.1.1'), hashString('Firefox/125'), 31), true, 'still a stranger on its next request');
  assert.equal(ids.observe(hashString('45.0.0.1'), 0, 31), true, 'a new address without an agent');
});

test('key sharing as it starts: a few new devices within two minutes on an established key, more if the key usually meets many', () => {
  const t = DEFAULT_DETECTION.keySharing;
  assert.deepEqual([t.burstMinutes, t.burstDevices], [2, 3], 'the thresholds below assume the defaults');
  assert.equal(keySharingBurst(2, 0, 1.5, t), null, 'two new devices may be the owner’s');
  const hit = keySharingBurst(3, 0, 1.5, t)!;
  assert.equal(hit.rule, 'key_sharing');
  assert.equal(hit.feature, 'new_devices_2m');
  assert.equal(hit.score, ruleScore(1));
  assert.match(hit.text, /3 new devices .* in the last 2 minutes, on a key usually seen from 1\.5 IPs in 10 minutes/);
  assert.ok(keySharingBurst(6, 0, 1.5, t)!.score > hit.score, 'the score rises with the margin');
  // a key usually seen from 20 addresses: 2 × 20 × 2/10 = 8 new devices
  assert.equal(keySharingBurst(7, 0, 20, t), null);
  assert.ok(keySharingBurst(8, 0, 20, t));
  // every new device of the eight minutes before raises the bar by one: a key that meets new devices all the time must jump
  assert.equal(keySharingBurst(4, 2, 1.5, t), null);
  const jump = keySharingBurst(5, 2, 1.5, t)!;
  assert.equal(jump.margin, 1);
  assert.match(jump.text, /\(2 in the 8 minutes before\)/);
  // from the tables: three sharers' first requests within two minutes
  const ids = established();
  ids.observe(hashString('82.1.1.1'), hashString('Firefox/125'), 30);
  ids.observe(hashString('90.2.2.2'), hashString('okhttp/4.12'), 31);
  assert.equal(keySharingBurst(ids.debutsSince(31, 2), 0, 1, t), null);
  ids.observe(hashString('71.3.3.3'), hashString('Safari/17.4'), 31);
  assert.ok(keySharingBurst(ids.debutsSince(31, 2), ids.debutsSince(31, 10) - ids.debutsSince(31, 2), 1, t));
});

test('key identities state round-trips with its new-device counts; a state without them restores zeros', () => {
  const ids = established();
  for (let i = 0; i < 3; i++) ids.observe(hashString(`82.1.1.${i}`), hashString(`ua-${i}`), 31);
  const state = ids.exportState();
  const back = KeyIdentities.fromState(state);
  assert.deepEqual(back.exportState(), state);
  assert.equal(back.debutsSince(31, 2), 3);
  assert.equal(back.strangerAddresses(31), 3);
  assert.equal(back.bytes, 1100, 'the size recentIps.ts documents');
  const { debuts: _, strangerIps: __, ...old } = state;
  const fromOld = KeyIdentities.fromState(old satisfies KeyIdentitiesState);
  assert.equal(fromOld.debutsSince(31, 2), 0);
  assert.equal(fromOld.strangerAddresses(31), 0);
  assert.equal(fromOld.strangerRequests(31), 3);
  assert.throws(() => KeyIdentities.fromState({ ...state, debuts: new Uint16Array(3) }), /another shape/);
  assert.throws(() => KeyIdentities.fromState({ ...state, strangerIps: new Uint16Array(3) }), /another shape/);
});

test('low and slow: sustained failed logins or enumeration at a few per minute fire after minutes', () => {
  const t = DEFAULT_DETECTION.lowAndSlow;
  const logins = new LowAndSlowState(t.span);
  let hit = null;
  let minutes = 0;
  while (!hit && minutes < 30) {
    hit = logins.update(window({ requests: 8, ratio401403: 0.9 }), t);
    minutes++;
  }
  assert.ok(hit, 'never fired');
  assert.equal(hit.rule, 'low_and_slow');
  assert.ok(minutes >= 4 && minutes <= 6, `fired after ${minutes} minutes`);
  const walker = new LowAndSlowState(t.span);
  const hits = Array.from({ length: 10 }, () => walker.update(window({ requests: 8, sequentialIdShare: 0.9 }), t));
  assert.ok(hits.some((h) => h !== null));
  const normal = new LowAndSlowState(t.span);
  for (let m = 0; m < 30; m++) assert.equal(normal.update(window({ requests: 40, ratio401403: 0.02 }), t), null);
});
