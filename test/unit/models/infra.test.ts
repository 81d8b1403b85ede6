/**
 * The Redis target the sidecar's ready line shows: never any part of the credentials.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { redactUrl, redisTarget } from '../../../models/infra.js';

test('the ready line\'s Redis target carries no part of a password, also one holding "@"', () => {
  const url = 'redis://default:p@ssw0rd-TAIL@redis:6379/2';
  const shown = redisTarget({ url, clusterNodes: null } as unknown as Parameters<typeof redisTarget>[0]);
  assert.equal(shown, 'redis://redis:6379/2');
  assert.ok(!shown.includes('ssw0rd') && !shown.includes('TAIL'));
  assert.equal(redactUrl('rediss://:s3cret@10.0.0.5:6380'), 'rediss://10.0.0.5:6380');
  assert.equal(redactUrl('redis://127.0.0.1:16379'), 'redis://127.0.0.1:16379');
  // not a URL the parser takes: the user info still goes, up to its last "@"
  assert.equal(redactUrl('redis://us@r:p@ss@host:1:2/0'), 'redis://host:1:2/0');
});

test('the Redis target drops the query and fragment: ioredis takes a password from ?password=', () => {
  const shown = redisTarget({ url: 'redis://redis.data:6379/0?password=s3cret', clusterNodes: null } as unknown as Parameters<typeof redisTarget>[0]);
  assert.equal(shown, 'redis://redis.data:6379/0');
  assert.equal(redactUrl('rediss://user:pw@redis:6380/1?username=u&password=s3cret#frag'), 'rediss://redis:6380/1');
  assert.equal(redactUrl('redis://redis:6379?db=2&password=s3cret'), 'redis://redis:6379');
  // not a URL the parser takes: the query still goes
  assert.equal(redactUrl('redis://us@r:p@ss@host:1:2/0?password=s3cret'), 'redis://host:1:2/0');
  assert.equal(redactUrl('redis://host:1:2?password=s3cret'), 'redis://host:1:2');
});
