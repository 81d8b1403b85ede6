/**
 * Bodies stream through a real sidecar process: 10 MB each way, with a hand-shake that would
 * deadlock (and time out) if the sidecar held a whole body before passing it on — the upstream
 * does not send the rest of a download until the client has received its first bytes, and the
 * client does not send the rest of an upload until the upstream has received its first bytes.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { request } from 'undici';
import { childEnv } from '../../helpers/infra.js';
import { patternBytes, startSidecarProcess, testAgent, type SidecarProcess } from '../../helpers/proc.js';

const SIZE = 10 * 1024 * 1024;
const FIRST = 1024 * 1024;

let server: Server;
let sidecar: SidecarProcess;
let clientGotFirst: () => void = () => undefined;
let upstreamGotFirst: () => void = () => undefined;
let uploadResult: { bytes: number; sha256: string } | null = null;

before(async () => {
  server = createServer((req, res) => {
    if (req.url === '/download') {
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(SIZE) });
      res.write(patternBytes(0, FIRST));
      const rest = new Promise<void>((resolve) => (clientGotFirst = resolve));
      void rest.then(() => {
        let off = FIRST;
        const more = (): void => {
          while (off < SIZE) {
            const n = Math.min(256 * 1024, SIZE - off);
            const ok = res.write(patternBytes(off, n));
            off += n;
            if (!ok) return void res.once('drain', more);
          }
          res.end();
        };
        more();
      });
      return;
    }
    if (req.url === '/upload') {
      const hash = createHash('sha256');
      let bytes = 0;
      req.on('data', (chunk: Buffer) => {
        if (bytes === 0) upstreamGotFirst();
        bytes += chunk.length;
        hash.update(chunk);
      });
      req.on('end', () => {
        uploadResult = { bytes, sha256: hash.digest('hex') };
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify(uploadResult));
      });
      return;
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const upstream = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  sidecar = await startSidecarProcess({
    policy: 'version: 1\nstore: { kind: memory }\nrules:\n  - { id: ip, key: [ip], algorithm: token-bucket, rate: 100/s, burst: 100 }\n',
    upstream,
    env: childEnv(),
  });
});

after(async () => {
  await sidecar?.stop();
  server?.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

test('a 10 MB download reaches the client while the upstream is still sending it', { timeout: 30_000 }, async () => {
  const res = await request(sidecar.url + '/download', { dispatcher: testAgent, bodyTimeout: 10_000, headersTimeout: 10_000 });
  assert.equal(res.statusCode, 200);
  assert.equal(res.headers['content-length'], String(SIZE));
  assert.ok(res.headers['x-ratelimit-limit']);
  const hash = createHash('sha256');
  let got = 0;
  for await (const chunk of res.body) {
    if (got === 0) clientGotFirst();
    got += (chunk as Buffer).length;
    hash.update(chunk as Buffer);
  }
  assert.equal(got, SIZE);
  assert.equal(hash.digest('hex'), createHash('sha256').update(patternBytes(0, SIZE)).digest('hex'));
});

test('a 10 MB upload reaches the upstream while the client is still sending it', { timeout: 30_000 }, async () => {
  const firstArrived = new Promise<void>((resolve) => (upstreamGotFirst = resolve));
  const body = Readable.from(
    (async function* () {
      yield patternBytes(0, FIRST);
      await firstArrived; // nothing more until the upstream has seen the beginning
      for (let off = FIRST; off < SIZE; off += 256 * 1024) yield patternBytes(off, Math.min(256 * 1024, SIZE - off));
    })(),
  );
  const res = await request(sidecar.url + '/upload', { method: 'POST', body, dispatcher: testAgent, bodyTimeout: 10_000, headersTimeout: 10_000 });
  assert.equal(res.statusCode, 200);
  const echoed = (await res.body.json()) as { bytes: number; sha256: string };
  assert.equal(echoed.bytes, SIZE);
  assert.equal(echoed.sha256, createHash('sha256').update(patternBytes(0, SIZE)).digest('hex'));
});
