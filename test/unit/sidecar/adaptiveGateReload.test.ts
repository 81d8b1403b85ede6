/**
 * A reload that removes `upstream.adaptiveConcurrency` drops the gate; requests waiting in it for a
 * slot are admitted at once (there is no limit any more), never left queued without the sweep timer
 * that would shed them — before, they waited until some old in-flight request happened to settle.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { parsePolicy, type Policy } from '../../../models/policy/index.js';
import { AdaptiveGate, adaptiveGateFor, type Permit, type ShedReason, type Waiter } from '../../../sidecar/adaptive/index.js';

function policy(extra: string): Policy {
  const r = parsePolicy(`version: 1\ntiers: { free: {}, gold: { shedPriority: 0 } }\nrules:\n  - { id: g, key: [global], algorithm: token-bucket, rate: 100/s, burst: 100 }\n${extra}`);
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.policy;
}

const WITH = policy('upstream: { adaptiveConcurrency: { strategy: aimd, minLimit: 1, maxLimit: 1, initialLimit: 1 } }\n');
const WITHOUT = policy('');

class Recorder implements Waiter {
  permit: Permit | null = null;
  shed: ShedReason | null = null;
  constructor(
    readonly name: string,
    private readonly log: string[],
    private readonly settleAtOnce = false,
  ) {}
  onAdmit(permit: Permit): void {
    this.permit = permit;
    this.log.push(`admit ${this.name}`);
    if (this.settleAtOnce) permit.success(5);
  }
  onShed(reason: ShedReason): void {
    this.shed = reason;
    this.log.push(`shed ${this.name}`);
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('removing the adaptive limit on reload', () => {
  test('a gate kept by a reload still sheds its waiter at the deadline (the control case)', async () => {
    const log: string[] = [];
    const gate = new AdaptiveGate(WITH, { maxWaitMs: 20 });
    const holder = new Recorder('holder', log);
    const waiter = new Recorder('waiter', log);
    gate.admit('gold', holder);
    gate.admit('gold', waiter);
    assert.equal(adaptiveGateFor(gate, WITH), gate);
    await sleep(100);
    assert.equal(waiter.shed, 'timeout');
    holder.permit!.success(5);
    gate.close();
  });

  test('the waiters of a removed gate are admitted at once, best priority first, not stranded', async () => {
    const log: string[] = [];
    const gate = new AdaptiveGate(WITH, { maxWaitMs: 20 });
    const holder = new Recorder('holder', log);
    gate.admit('gold', holder);
    const free = new Recorder('free', log);
    const gold = new Recorder('gold', log, true); // settles its permit inside onAdmit
    const gold2 = new Recorder('gold2', log);
    gate.admit('free', free);
    gate.admit('gold', gold);
    gate.admit('gold', gold2);
    assert.equal(gate.limiter.queued, 3);
    log.length = 0;
    assert.equal(adaptiveGateFor(gate, WITHOUT), null);
    // admitted during the reload itself, whatever the old limit
    assert.deepEqual(log, ['admit gold', 'admit gold2', 'admit free']);
    assert.equal(gate.limiter.queued, 0);
    for (const w of [free, gold, gold2]) assert.equal(w.shed, null);
    await sleep(60); // well past the 20 ms wait: nobody is shed afterwards either
    for (const w of [free, gold, gold2]) assert.equal(w.shed, null);
    // their permits, and the one in flight before the reload, settle normally against the old limiter
    for (const w of [holder, free, gold2]) w.permit!.success(5);
    assert.equal(gate.limiter.inflight, 0);
    assert.equal(log.length, 3, 'no further admission or shed');
  });

  test('close() alone leaves nobody waiting without a timer', () => {
    const log: string[] = [];
    const gate = new AdaptiveGate(WITH, { maxWaitMs: 20 });
    const holder = new Recorder('holder', log);
    const waiter = new Recorder('waiter', log);
    gate.admit('gold', holder);
    gate.admit('gold', waiter);
    gate.close();
    assert.ok(waiter.permit !== null || waiter.shed !== null, 'the waiter got an answer');
    assert.equal(gate.limiter.queued, 0);
    holder.permit!.success(5);
    waiter.permit?.ignore();
  });
});
