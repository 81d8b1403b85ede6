/**
 * Fixtures of the tests that run the analyzer as a process on real Kafka: CallEvents, a learned
 * history (20 keyed clients, 14 minutes of event time ending a minute ago) with a credential-
 * stuffing burst in its last minute, and a listener on ratewarden.anomalies for one client.
 */
import type { Consumer, Kafka } from 'kafkajs';
import { decodeAnomalyReport, type AnomalyReport } from '../../models/anomaly.js';
import { ANOMALIES_TOPIC, encodeCallEvent, type CallEvent } from '../../models/events.js';
import { uniqueName } from './infra.js';

export type Message = { key: string; value: string };

export function callEvent(ts: number, client: string, over: Partial<CallEvent> = {}): CallEvent {
  return { v: 1, ts, pod: 'api-0', service: 'api', method: 'GET', route: '/api/items', status: 200, latencyMs: 12, bytesIn: 0, bytesOut: 800, ip: '10.0.0.1', client, user: null, uaHash: 'ua', decision: 'allowed', rule: null, cost: 1, ...over };
}

/** A request of normal client `c` (apiKey:000…c) at `t`. */
export function normal(t: number, c: number): Message {
  const client = `apiKey:${String(c).padStart(16, '0')}`;
  return { key: client, value: encodeCallEvent(callEvent(t + c * 7, client, { route: `/api/r${c % 4}`, ip: `10.0.1.${c}` })) };
}

/** `n` failed logins of `client` from `ip`, 20 ms apart from `t`. */
export function stuffing(client: string, ip: string, t: number, n: number, gapMs = 20): Message[] {
  return Array.from({ length: n }, (_, j) => ({ key: client, value: encodeCallEvent(callEvent(t + j * gapMs, client, { method: 'POST', route: '/login', status: 401, ip, uaHash: null })) }));
}

/** 14 minutes of event time ending a minute ago: 20 normal clients, and in the last minute 12 failed logins a second from `attacker`. */
export function historyWithStuffing(attacker: string, attackerIp: string): Message[] {
  // on the 10 s grid, so the stuffing (at 13 min) starts with a window: starting in a window's last
  // second, its first window held too few failures for the rule, and the report opened on the
  // statistical detector alone (observe), which the tests asserting the rule's block then missed
  const start = Math.floor((Date.now() - 15 * 60_000) / 10_000) * 10_000;
  const messages: Message[] = [];
  for (let s = 0; s < 14 * 60; s++) {
    const t = start + s * 1_000;
    for (let c = 0; c < 20; c++) if ((s + c) % 3 === 0) messages.push(normal(t, c));
    if (s >= 13 * 60) messages.push(...stuffing(attacker, attackerIp, t, 12, 80));
  }
  return messages;
}

export async function produce(kafka: Kafka, topic: string, messages: readonly Message[]): Promise<void> {
  const producer = kafka.producer();
  await producer.connect();
  for (let i = 0; i < messages.length; i += 2_000) await producer.send({ topic, messages: messages.slice(i, i + 2_000) });
  await producer.disconnect();
}

/**
 * Joins a new group on ratewarden.anomalies (from now on) and collects the reports about `client`
 * (other tests may publish there too).
 */
export async function listenForReports(kafka: Kafka, client: string, groupPrefix: string): Promise<{ consumer: Consumer; published: AnomalyReport[] }> {
  const published: AnomalyReport[] = [];
  const consumer = kafka.consumer({ groupId: uniqueName(groupPrefix) });
  await consumer.connect();
  await consumer.subscribe({ topic: ANOMALIES_TOPIC, fromBeginning: false });
  const joined = new Promise<void>((resolve) => consumer.on(consumer.events.GROUP_JOIN, () => resolve()));
  await consumer.run({
    eachMessage: async ({ message }) => {
      if (message.key?.toString() !== client) return;
      const d = decodeAnomalyReport(message.value!);
      if (d.ok) published.push(d.value);
    },
  });
  await joined;
  return { consumer, published };
}
