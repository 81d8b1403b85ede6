/**
 * The lean producer's wire encoding, checked against kafkajs's own implementations (a reference
 * that talks to real brokers): murmur2 partitioning, CRC-32C, and a RecordBatch that kafkajs's
 * decoder reads back record for record, compressed or not.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { randomBytes } from 'node:crypto';
import { gunzipSync, gzipSync } from 'node:zlib';
import { CODEC_GZIP, CODEC_NONE, crc32c, encodeRecordBatch, encodeRecords, murmur2, partitionForKey, readVarint, varintSize, writeVarint } from '../../../sidecar/events/kafkaWire.js';

const require = createRequire(import.meta.url);
const kafkajsMurmur2 = require('kafkajs/src/producer/partitioners/default/murmur2.js') as (key: Buffer) => number;
const kafkajsCrc32c = require('kafkajs/src/protocol/recordBatch/crc32C/index.js') as (b: Buffer) => number;
const KafkaDecoder = require('kafkajs/src/protocol/decoder.js') as new (b: Buffer) => unknown;
const decodeRecordBatch = require('kafkajs/src/protocol/recordBatch/v0/decoder.js') as (d: unknown) => Promise<{ records: Array<{ key: Buffer; value: Buffer; offset: string; timestamp: string }>; lastOffsetDelta: number; inTransaction: boolean }>;

test('murmur2 matches the Java client (as kafkajs implements it) for keys of every length', () => {
  for (let len = 0; len < 40; len++) {
    for (let i = 0; i < 20; i++) {
      const key = randomBytes(len);
      assert.equal(murmur2(key), kafkajsMurmur2(key), `key ${key.toString('hex')}`);
    }
  }
  // a known value from the Java client's test suite: murmur2("21") = -973932308
  assert.equal(murmur2(Buffer.from('21')), -973932308);
  assert.equal(partitionForKey('apiKey:9f86d081884c7d65', 3), (murmur2(Buffer.from('apiKey:9f86d081884c7d65')) & 0x7fffffff) % 3);
});

test('CRC-32C matches', () => {
  for (const size of [0, 1, 7, 100, 4096]) {
    const b = randomBytes(size);
    assert.equal(crc32c(b), kafkajsCrc32c(b));
  }
  assert.equal(crc32c(Buffer.from('123456789')), 0xe3069283); // the standard check value
});

test('zig-zag varints round-trip and have the documented sizes', () => {
  const buf = Buffer.alloc(10);
  for (const v of [0, 1, -1, 63, 64, -64, -65, 300, 2 ** 20, -(2 ** 20), 2 ** 30, -(2 ** 31)]) {
    const end = writeVarint(buf, 0, v);
    assert.equal(end, varintSize(v));
    assert.deepEqual(readVarint(buf, 0), [v, end]);
  }
  assert.equal(varintSize(63), 1);
  assert.equal(varintSize(64), 2);
});

for (const codec of [CODEC_NONE, CODEC_GZIP]) {
  test(`a RecordBatch (${codec === CODEC_GZIP ? 'gzip' : 'uncompressed'}) decodes back to the same records with kafkajs's decoder`, async () => {
    const records = Array.from({ length: 150 }, (_, i) => ({ key: `apiKey:${i.toString(16).padStart(16, '0')}`, value: JSON.stringify({ v: 1, n: i, route: '/é/' + 'x'.repeat(i) }) }));
    let section = encodeRecords(records);
    if (codec === CODEC_GZIP) section = gzipSync(section);
    const ts = 1_767_225_600_123;
    const batch = encodeRecordBatch(section, records.length, codec, ts);
    // the CRC covers attributes..end
    assert.equal(batch.readUInt32BE(17), crc32c(batch, 21));
    const decoded = await decodeRecordBatch(new KafkaDecoder(batch));
    assert.equal(decoded.lastOffsetDelta, records.length - 1);
    assert.equal(decoded.inTransaction, false);
    assert.equal(decoded.records.length, records.length);
    for (let i = 0; i < records.length; i++) {
      assert.equal(decoded.records[i]!.key.toString(), records[i]!.key);
      assert.equal(decoded.records[i]!.value.toString(), records[i]!.value);
      assert.equal(decoded.records[i]!.offset, String(i));
      assert.equal(decoded.records[i]!.timestamp, String(ts));
    }
    if (codec === CODEC_GZIP) assert.deepEqual(gunzipSync(batch.subarray(61)), encodeRecords(records));
  });
}
