/** Small tools for the security suites: raw HTTP over a socket, process memory, HS256 tokens. */
import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';

export interface RawAnswer {
  /** 0 when the connection closed without a status line. */
  readonly status: number;
  readonly head: string;
  readonly body: string;
}

/**
 * Sends `bytes` as-is on a fresh connection to 127.0.0.1:`port` and reads until the peer closes or
 * one answer is complete (by Content-Length), or `timeoutMs` passes.
 */
export function rawRequest(port: number, bytes: Buffer | string, timeoutMs = 5_000): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    let done = false;
    const finish = (): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      const text = Buffer.concat(chunks).toString('latin1');
      const end = text.indexOf('\r\n\r\n');
      const head = end < 0 ? text : text.slice(0, end);
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(head);
      resolve({ status: m ? Number(m[1]) : 0, head, body: end < 0 ? '' : text.slice(end + 4) });
    };
    const timer = setTimeout(finish, timeoutMs);
    socket.on('data', (d: Buffer) => {
      chunks.push(d);
      const text = Buffer.concat(chunks).toString('latin1');
      const end = text.indexOf('\r\n\r\n');
      if (end < 0) return;
      const cl = /\r\ncontent-length:\s*(\d+)/i.exec(text.slice(0, end));
      if (cl && Buffer.byteLength(text.slice(end + 4), 'latin1') >= Number(cl[1])) finish();
    });
    socket.on('end', finish);
    socket.on('close', finish);
    socket.on('error', (err) => {
      if (chunks.length > 0 || done) finish();
      else {
        done = true;
        clearTimeout(timer);
        reject(err);
      }
    });
    socket.write(bytes);
  });
}

/** Resident set size of a process in bytes (Linux /proc). */
export function rssBytes(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(m[1]) * 1024;
}

export function mib(bytes: number): string {
  return (bytes / 1024 / 1024).toFixed(1);
}

const b64 = (v: unknown): string => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');

/** An HS256 JWT signed with `secret` (or a header of your choosing, for forgeries). */
export function hs256(claims: Record<string, unknown>, secret: string, header: Record<string, unknown> = { alg: 'HS256', typ: 'JWT' }): string {
  const input = `${b64(header)}.${b64(claims)}`;
  return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`;
}

/** An unsigned token (`alg: none`). */
export function unsigned(claims: Record<string, unknown>): string {
  return `${b64({ alg: 'none', typ: 'JWT' })}.${b64(claims)}.`;
}
