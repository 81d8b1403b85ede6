/**
 * Reports in Redis. Every key carries the hash tag `{<prefix>}` so one report's keys and the
 * indexes share a slot: the Lua scripts and pipelines work on a Redis Cluster too.
 *
 *   {P}:r:<id>        hash  doc (report JSON without status/action/history), status, action, client, ts,
 *                           hbytes (bytes of the history list), hdropped (history entries dropped)
 *   {P}:h:<id>        list  history entries (JSON), appended atomically with status changes and
 *                           bounded in the same script (HistoryBound, store.ts)
 *   {P}:ts            zset  id by detection time (all reports)
 *   {P}:st:<status>   zset  id by detection time, one per status
 *   {P}:c:<client>    zset  id by detection time, one per client
 *   {P}:stream        stream of changes (id, what, status), capped at ~10,000 entries, for tailing
 *
 * Retention: `trim()` (the analyzer runs it every minute) deletes reports older than the retention
 * and their index entries; report keys and the client's index also carry a PEXPIRE of retention +
 * 1 day as a backstop (the retention trim() was last given: a reload's applies to new reports).
 * Default prefix `rw:anomalies`.
 */
import type { Redis, Cluster } from 'ioredis';
import { ANOMALY_STATUSES, PUT_IN_FORCE, decodeAnomalyReport, type AnomalyReport, type AnomalyStatus } from '../../models/anomaly.js';
import { cursorPosition, encodeCursor, isAfterCursor, type CursorPosition } from './cursor.js';
import { HISTORY_MAX_BYTES, HISTORY_MAX_ENTRIES, assertStorable, assertTransition, pageSize, type HistoryBound, type ReportDetails, type ReportPage, type ReportQuery, type ReportStore, type ReportTransition, type TransitionResult } from './store.js';

export const DEFAULT_REPORTS_PREFIX = 'rw:anomalies';
const DAY_MS = 86_400_000;

export interface ReportKeys {
  report(id: string): string;
  history(id: string): string;
  readonly byTs: string;
  status(s: AnomalyStatus): string;
  client(c: string): string;
  readonly stream: string;
}

export function reportKeys(prefix = DEFAULT_REPORTS_PREFIX): ReportKeys {
  const p = `{${prefix}}`;
  return {
    report: (id) => `${p}:r:${id}`,
    history: (id) => `${p}:h:${id}`,
    byTs: `${p}:ts`,
    status: (s) => `${p}:st:${s}`,
    client: (c) => `${p}:c:${c}`,
    stream: `${p}:stream`,
  };
}

// ARGV: doc, status, action, client, ts, id, expire ms, stream maxlen, history dropped, history entries…
const CREATE = `
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local bytes = 0
for i = 10, #ARGV do
  redis.call('RPUSH', KEYS[2], ARGV[i])
  bytes = bytes + #ARGV[i]
end
redis.call('HSET', KEYS[1], 'doc', ARGV[1], 'status', ARGV[2], 'action', ARGV[3], 'client', ARGV[4], 'ts', ARGV[5], 'id', ARGV[6], 'hbytes', bytes)
if ARGV[9] ~= '0' then redis.call('HSET', KEYS[1], 'hdropped', ARGV[9]) end
redis.call('ZADD', KEYS[3], ARGV[5], ARGV[6])
redis.call('ZADD', KEYS[4], ARGV[5], ARGV[6])
redis.call('ZADD', KEYS[5], ARGV[5], ARGV[6])
redis.call('PEXPIRE', KEYS[1], ARGV[7])
redis.call('PEXPIRE', KEYS[2], ARGV[7])
redis.call('PEXPIRE', KEYS[5], ARGV[7])
redis.call('XADD', KEYS[6], 'MAXLEN', '~', ARGV[8], '*', 'id', ARGV[6], 'what', 'detected', 'status', ARGV[2])
return 1
`;

// KEYS: r, h, stream, st:<each status in ANOMALY_STATUSES order>
// ARGV: allowed-from (comma list or ''), to ('' keeps), action JSON ('' keeps), entry JSON, stream maxlen, what,
//       history max entries, history max bytes
// Returns 0 (no report), -1 (status not allowed), or {1, history entries dropped}.
// The bound (appendBounded in store.ts does the same): while the list is over either limit, drop the
// oldest entry but the first, and but the second when it was put in force (JSON.stringify writes no
// spaces, and a '"' inside a string is escaped, so '"what":"blocked"' can only be the key).
const TRANSITION = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local status = redis.call('HGET', KEYS[1], 'status')
if ARGV[1] ~= '' then
  local ok = false
  for s in string.gmatch(ARGV[1], '[^,]+') do if s == status then ok = true end end
  if not ok then return -1 end
end
local id = redis.call('HGET', KEYS[1], 'id')
local ts = redis.call('HGET', KEYS[1], 'ts')
local statuses = {${ANOMALY_STATUSES.map((s) => `'${s}'`).join(',')}}
local to = status
if ARGV[2] ~= '' and ARGV[2] ~= status then
  to = ARGV[2]
  for i, s in ipairs(statuses) do
    if s == status then redis.call('ZREM', KEYS[3 + i], id) end
    if s == to then redis.call('ZADD', KEYS[3 + i], ts, id) end
  end
  redis.call('HSET', KEYS[1], 'status', to)
end
if ARGV[3] ~= '' then redis.call('HSET', KEYS[1], 'action', ARGV[3]) end
local len = redis.call('RPUSH', KEYS[2], ARGV[4])
local bytes = redis.call('HGET', KEYS[1], 'hbytes')
if bytes then
  bytes = tonumber(bytes) + #ARGV[4]
else
  -- a report stored before the bound: measure its list once
  bytes = 0
  for _, e in ipairs(redis.call('LRANGE', KEYS[2], 0, -1)) do bytes = bytes + #e end
end
local inForce = {${[...PUT_IN_FORCE].map((w) => `'"what":"${w}"'`).join(',')}}
local maxEntries = tonumber(ARGV[7])
local maxBytes = tonumber(ARGV[8])
local dropped = 0
while len > maxEntries or bytes > maxBytes do
  local keep = 1
  local second = redis.call('LINDEX', KEYS[2], 1)
  if second then
    for _, w in ipairs(inForce) do if string.find(second, w, 1, true) then keep = 2 end end
  end
  if len <= keep + 1 then break end
  local gone = redis.call('LINDEX', KEYS[2], keep)
  -- entries are JSON objects: '-' is none of them
  redis.call('LSET', KEYS[2], keep, '-')
  redis.call('LREM', KEYS[2], 1, '-')
  bytes = bytes - #gone
  len = len - 1
  dropped = dropped + 1
end
redis.call('HSET', KEYS[1], 'hbytes', bytes)
if dropped > 0 then redis.call('HINCRBY', KEYS[1], 'hdropped', dropped) end
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[5], '*', 'id', id, 'what', ARGV[6], 'status', to)
return {1, dropped}
`;

const UPDATE_DOC = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'doc', ARGV[1])
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[3], '*', 'id', ARGV[2], 'what', 'updated', 'status', redis.call('HGET', KEYS[1], 'status'))
return 1
`;

export interface RedisReportStoreOptions {
  readonly prefix?: string;
  /** Backstop expiry of report keys (retention + 1 day). */
  readonly retentionMs?: number;
  readonly streamMaxLen?: number;
  /** Bound of a report's history (default 1,000 entries, 256 KiB). */
  readonly history?: HistoryBound;
}

export class RedisReportStore implements ReportStore {
  readonly keys: ReportKeys;
  /** Backstop expiry of report keys: retention + 1 day, following the retention trim() is given. */
  private expireMs: number;
  private readonly streamMaxLen: number;
  private readonly historyBound: Required<HistoryBound>;
  /** History entries this instance's transitions dropped past the history bound. */
  historyDropped = 0;

  constructor(
    private readonly redis: Redis | Cluster,
    opts: RedisReportStoreOptions = {},
  ) {
    this.keys = reportKeys(opts.prefix);
    this.expireMs = (opts.retentionMs ?? 7 * DAY_MS) + DAY_MS;
    this.streamMaxLen = opts.streamMaxLen ?? 10_000;
    this.historyBound = { maxEntries: opts.history?.maxEntries ?? HISTORY_MAX_ENTRIES, maxBytes: opts.history?.maxBytes ?? HISTORY_MAX_BYTES };
  }

  async create(report: AnomalyReport): Promise<boolean> {
    // get and list read through the codec: what it refuses would be stored unreadable
    assertStorable(report);
    const { status, action, history, historyDropped, ...doc } = report;
    const k = this.keys;
    const created = await this.redis.eval(
      CREATE,
      6,
      k.report(report.id),
      k.history(report.id),
      k.byTs,
      k.status(status),
      k.client(report.client),
      k.stream,
      JSON.stringify(doc),
      status,
      JSON.stringify(action),
      report.client,
      String(report.ts),
      report.id,
      String(this.expireMs),
      String(this.streamMaxLen),
      String(historyDropped ?? 0),
      ...history.map((h) => JSON.stringify(h)),
    );
    return Number(created) === 1;
  }

  async updateDetails(id: string, d: ReportDetails): Promise<AnomalyReport | null> {
    const [raw, status, action] = await this.redis.hmget(this.keys.report(id), 'doc', 'status', 'action');
    if (raw === null || raw === undefined) return null;
    const doc = { ...(JSON.parse(raw) as Record<string, unknown>), score: d.score, detectors: d.detectors, explanation: d.explanation, summary: d.summary };
    assertStorable({ ...doc, status, action: JSON.parse(action ?? 'null'), history: [] } as unknown as AnomalyReport);
    const ok = await this.redis.eval(UPDATE_DOC, 2, this.keys.report(id), this.keys.stream, JSON.stringify(doc), id, String(this.streamMaxLen));
    return Number(ok) === 1 ? this.get(id) : null;
  }

  async transition(id: string, change: ReportTransition): Promise<TransitionResult> {
    assertTransition(change);
    const k = this.keys;
    const reply = (await this.redis.eval(
      TRANSITION,
      3 + ANOMALY_STATUSES.length,
      k.report(id),
      k.history(id),
      k.stream,
      ...ANOMALY_STATUSES.map((s) => k.status(s)),
      // `from: []` allows no status (a conflict, as in the memory store); ',' names none
      change.from ? (change.from.length > 0 ? change.from.join(',') : ',') : '',
      change.to ?? '',
      change.action ? JSON.stringify(change.action) : '',
      JSON.stringify(change.entry),
      String(this.streamMaxLen),
      change.entry.what,
      String(this.historyBound.maxEntries),
      String(this.historyBound.maxBytes),
    )) as number | [number, number];
    const result = Array.isArray(reply) ? Number(reply[0]) : Number(reply);
    if (Array.isArray(reply)) this.historyDropped += Number(reply[1]);
    if (result === 0) return { ok: false, reason: 'not_found' };
    const report = await this.get(id);
    if (!report) return { ok: false, reason: 'not_found' };
    if (result === -1) return { ok: false, reason: 'conflict', report };
    return { ok: true, report };
  }

  async get(id: string): Promise<AnomalyReport | null> {
    const [[, hash], [, history]] = (await this.redis.pipeline().hgetall(this.keys.report(id)).lrange(this.keys.history(id), 0, -1).exec()) as [[unknown, Record<string, string>], [unknown, string[]]];
    return assemble(hash, history);
  }

  async list(query: ReportQuery = {}): Promise<ReportPage> {
    const size = pageSize(query);
    const k = this.keys;
    const after = cursorPosition(query.cursor);
    const index = query.client !== undefined ? k.client(query.client) : query.status !== undefined ? k.status(query.status) : k.byTs;
    // the cursor is a position (ts, id), not an offset: reports added or moved between two pages
    // neither repeat nor skip an item; reports at the cursor's own ts are skipped up to its id
    const until = query.until ?? Number.POSITIVE_INFINITY;
    const min = query.since !== undefined ? String(query.since) : '-inf';
    const batch = size + 1;
    const items: AnomalyReport[] = [];
    // ids come newest first from the index; other filters apply after reading, so read until the
    // page is full and one more match shows there is a next page. Each read starts at the position
    // of the last id read, never at an offset, so reports detected or changing status between two
    // reads neither repeat nor skip one; `ties`: ids at that position's ts read so far (read again,
    // and passed over, when many reports share one ms)
    let at = after;
    let ties = 0;
    for (;;) {
      const top = Math.min(until, at?.ts ?? Number.POSITIVE_INFINITY);
      const raw = await this.redis.zrevrangebyscore(index, top === Number.POSITIVE_INFINITY ? '+inf' : String(top), min, 'WITHSCORES', 'LIMIT', 0, batch + ties);
      const read: CursorPosition[] = [];
      for (let i = 0; i + 1 < raw.length; i += 2) read.push({ id: raw[i]!, ts: Number(raw[i + 1]) });
      const fresh = at ? read.filter((r) => isAfterCursor(r, at!)) : read;
      if (fresh.length > 0) {
        const pipe = this.redis.pipeline();
        for (const { id } of fresh) pipe.hgetall(k.report(id)).lrange(k.history(id), 0, -1);
        const replies = (await pipe.exec()) ?? [];
        for (let i = 0; i < fresh.length; i++) {
          const report = assemble(replies[2 * i]?.[1] as Record<string, string>, replies[2 * i + 1]?.[1] as string[]);
          if (!report) continue;
          if (after && !isAfterCursor(report, after)) continue;
          if (query.status !== undefined && report.status !== query.status) continue;
          if (query.client !== undefined && report.client !== query.client) continue;
          if (items.length === size) return { items, next: encodeCursor(items[items.length - 1]!) };
          items.push(report);
        }
        at = fresh[fresh.length - 1]!;
      }
      if (read.length < batch + ties) return { items, next: null };
      ties = read.filter((r) => r.ts === at!.ts && !isAfterCursor(r, at!)).length + (fresh.length === 0 ? batch : 0);
    }
  }

  async trim(now: number, retentionMs: number): Promise<number> {
    // a reloaded policy's retention applies to the backstop of reports created from now on
    this.expireMs = retentionMs + DAY_MS;
    const k = this.keys;
    let removed = 0;
    for (;;) {
      const ids = await this.redis.zrangebyscore(k.byTs, '-inf', String(now - retentionMs - 1), 'LIMIT', 0, 200);
      if (ids.length === 0) return removed;
      const clients = (await Promise.all(ids.map((id) => this.redis.hget(k.report(id), 'client')))) as Array<string | null>;
      const pipe = this.redis.pipeline();
      ids.forEach((id, i) => {
        pipe.del(k.report(id), k.history(id));
        pipe.zrem(k.byTs, id);
        for (const s of ANOMALY_STATUSES) pipe.zrem(k.status(s), id);
        // and whatever else of this client's index is past the retention (reports whose keys expired first)
        if (clients[i]) pipe.zremrangebyscore(k.client(clients[i]!), '-inf', String(now - retentionMs - 1));
      });
      await pipe.exec();
      removed += ids.length;
    }
  }

  async close(): Promise<void> {}
}

function assemble(hash: Record<string, string> | undefined, history: string[] | undefined): AnomalyReport | null {
  if (!hash || !hash.doc) return null;
  const doc = JSON.parse(hash.doc) as Record<string, unknown>;
  const dropped = Number(hash.hdropped ?? 0);
  const text = JSON.stringify({ ...doc, status: hash.status, action: JSON.parse(hash.action ?? 'null'), history: (history ?? []).map((h) => JSON.parse(h)), ...(dropped > 0 ? { historyDropped: dropped } : {}) });
  const decoded = decodeAnomalyReport(text);
  return decoded.ok ? decoded.value : null;
}
