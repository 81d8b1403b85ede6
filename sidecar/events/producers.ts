/**
 * Which Kafka producer the sidecar uses: the lean one (leanProducer.ts) for plaintext and TLS
 * brokers — the common case, and the fast one — and kafkajs where SASL is configured, since the
 * lean producer does not implement SASL authentication.
 */
import { readFileSync } from 'node:fs';
import { createKafka, type KafkaConnection } from '../../models/infra.js';
import { kafkajsProducer, type EventProducer } from './kafkaSink.js';
import { LeanKafkaProducer } from './leanProducer.js';

export function createEventProducer(conn: KafkaConnection, topic: string, compression: 'gzip' | 'none', clientId: string): { producer: EventProducer; kind: 'lean' | 'kafkajs' } {
  if (conn.sasl) return { producer: kafkajsProducer(createKafka(conn, clientId), topic, compression), kind: 'kafkajs' };
  const tls = conn.ssl ? (conn.caFile ? { ca: [readFileSync(conn.caFile, 'utf8')] } : {}) : null;
  return { producer: new LeanKafkaProducer({ brokers: conn.brokers, topic, clientId, compression, tls }), kind: 'lean' };
}
