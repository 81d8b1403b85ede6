/**
 * Who uses a credential (API key or user) lately: its IPs and user agents with the minute each was
 * first and last seen. Two rules read it: key sharing (many distinct IPs over ten minutes — a mobile
 * app shows a handful, a key shared in a community dozens — or, as sharing starts, several distinct
 * never-seen devices within a couple of minutes) and compromised key (an established key suddenly
 * used from new IPs with a user agent it never had: another party holds it).
 *
 * Fixed tables — 64 IPs and 16 user agents; when full, the entry seen longest ago is replaced — so
 * counts are exact up to 64 distinct IPs per horizon and saturate there, and "new" means "not seen
 * since the table last held it". Plus three ten-minute rings of per-minute counts (strangers,
 * debuts, stranger addresses). About 1 KB (1,100 bytes: see `bytes`), only for API-key and user
 * clients.
 */
export const IP_CAPACITY = 64;
export const UA_CAPACITY = 16;
const STRANGER_SPAN = 10;

class SeenTable {
  private readonly hashes: Uint32Array;
  private readonly first: Uint32Array;
  private readonly last: Uint32Array;
  private n = 0;
  private recent = 0;
  /** Whether the last touch() put the value in the table (never seen, or not since it was evicted). */
  inserted = false;

  constructor(private readonly capacity: number) {
    this.hashes = new Uint32Array(capacity);
    this.first = new Uint32Array(capacity);
    this.last = new Uint32Array(capacity);
  }

  /** Records a sighting in `minute`; returns the minute the value was first seen. */
  touch(hash: number, minute: number): number {
    const hashes = this.hashes;
    let i = this.recent;
    this.inserted = false;
    if (!(i < this.n && hashes[i] === hash)) {
      for (i = 0; i < this.n; i++) if (hashes[i] === hash) break;
      if (i === this.n) {
        if (this.n < this.capacity) this.n++;
        else {
          i = 0;
          for (let j = 1; j < this.capacity; j++) if (this.last[j]! < this.last[i]!) i = j;
        }
        hashes[i] = hash;
        this.first[i] = minute;
        this.inserted = true;
      }
      this.recent = i;
    }
    if (minute > this.last[i]!) this.last[i] = minute;
    return this.first[i]!;
  }

  /** Distinct values seen at or after `minute`. */
  seenSince(minute: number): number {
    let c = 0;
    for (let i = 0; i < this.n; i++) if (this.last[i]! >= minute) c++;
    return c;
  }

  get bytes(): number {
    return this.capacity * 12 + 24;
  }

  /** The used entries (state snapshots). */
  exportState(): SeenTableState {
    return { hashes: this.hashes.slice(0, this.n), first: this.first.slice(0, this.n), last: this.last.slice(0, this.n), recent: this.recent };
  }

  importState(s: SeenTableState): void {
    const n = s.hashes.length;
    if (n > this.capacity || s.first.length !== n || s.last.length !== n || !(s.recent >= 0 && (s.recent < n || s.recent === 0))) throw new Error('seen table state has another shape');
    this.hashes.fill(0).set(s.hashes);
    this.first.fill(0).set(s.first);
    this.last.fill(0).set(s.last);
    this.n = n;
    this.recent = s.recent;
  }
}

export interface SeenTableState {
  readonly hashes: Uint32Array;
  readonly first: Uint32Array;
  readonly last: Uint32Array;
  readonly recent: number;
}

export interface KeyIdentitiesState {
  readonly since: number;
  readonly strangerMinute: number;
  readonly strangers: Uint16Array;
  /** Absent in snapshots written before debuts were counted (restored as zeros). */
  readonly debuts?: Uint16Array;
  /** Absent in snapshots written before stranger addresses were counted (restored as zeros). */
  readonly strangerIps?: Uint16Array;
  readonly ips: SeenTableState;
  readonly uas: SeenTableState;
}

export class KeyIdentities {
  readonly ips = new SeenTable(IP_CAPACITY);
  readonly uas = new SeenTable(UA_CAPACITY);
  /** Requests per minute (ring) that came from a new IP with a new user agent. */
  private readonly strangers = new Uint16Array(STRANGER_SPAN);
  /**
   * Of those, per minute (same ring and clock), the "debuts": requests that put both their IP and
   * their user agent into the tables, i.e. each from an address and an agent the key never showed
   * and no earlier debut brought — one per new device in a new place.
   */
  private readonly debuts = new Uint16Array(STRANGER_SPAN);
  /**
   * Of the strangers, per minute (same ring and clock), those that brought their address to the
   * table: one per new address a new user agent came from. An owner's new device counts one; its
   * old device roaming to a new network counts none (its agent is known); an intruder spreading
   * over hosts counts one per host.
   */
  private readonly strangerIps = new Uint16Array(STRANGER_SPAN);
  private strangerMinute = 0;
  /** Minute of the first request seen. */
  readonly since: number;

  constructor(minute: number) {
    this.since = minute;
  }

  /**
   * Ingest path: one request from `ipHash` with `uaHash` (0: no user agent) in `minute`. Returns
   * whether it moved what the identity rules read: an address new to the table, or a stranger.
   */
  observe(ipHash: number, uaHash: number, minute: number): boolean {
    const ipFirst = this.ips.touch(ipHash, minute);
    const ipInserted = this.ips.inserted;
    if (uaHash === 0) return ipInserted;
    const uaFirst = this.uas.touch(uaHash, minute);
    // a stranger: both the address and the agent are new within the span, on a key older than that
    if (minute - this.since >= STRANGER_SPAN && minute - ipFirst < STRANGER_SPAN && minute - uaFirst < STRANGER_SPAN) {
      this.advance(minute);
      const slot = minute % STRANGER_SPAN;
      if (this.strangers[slot]! < 65535) this.strangers[slot]!++;
      if (ipInserted && this.uas.inserted && this.debuts[slot]! < 65535) this.debuts[slot]!++;
      if (ipInserted && this.strangerIps[slot]! < 65535) this.strangerIps[slot]!++;
      return true;
    }
    return ipInserted;
  }

  private advance(minute: number): void {
    if (minute <= this.strangerMinute) return;
    // clear the minutes skipped since the last stranger
    for (let m = Math.max(this.strangerMinute + 1, minute - STRANGER_SPAN + 1); m <= minute; m++) {
      this.strangers[m % STRANGER_SPAN] = 0;
      this.debuts[m % STRANGER_SPAN] = 0;
      this.strangerIps[m % STRANGER_SPAN] = 0;
    }
    this.strangerMinute = minute;
  }

  /** Requests from strangers in the last ten minutes up to `minute`. */
  strangerRequests(minute: number): number {
    return this.sum(this.strangers, minute, STRANGER_SPAN);
  }

  /** New addresses strangers came from (see `strangerIps`) in the last ten minutes up to `minute`. */
  strangerAddresses(minute: number): number {
    return this.sum(this.strangerIps, minute, STRANGER_SPAN);
  }

  /** Debuts (new devices in new places, see `debuts`) in the last `minutes` (≤ 10) up to `minute`. */
  debutsSince(minute: number, minutes: number): number {
    return this.sum(this.debuts, minute, Math.min(minutes, STRANGER_SPAN));
  }

  private sum(ring: Uint16Array, minute: number, span: number): number {
    if (minute - this.strangerMinute >= span) return 0;
    let sum = 0;
    for (let m = Math.max(minute - span + 1, this.strangerMinute - STRANGER_SPAN + 1); m <= Math.min(minute, this.strangerMinute); m++) sum += ring[m % STRANGER_SPAN]!;
    return sum;
  }

  get bytes(): number {
    return this.ips.bytes + this.uas.bytes + this.strangers.byteLength + this.debuts.byteLength + this.strangerIps.byteLength + 32;
  }

  exportState(): KeyIdentitiesState & { readonly debuts: Uint16Array; readonly strangerIps: Uint16Array } {
    return { since: this.since, strangerMinute: this.strangerMinute, strangers: this.strangers.slice(), debuts: this.debuts.slice(), strangerIps: this.strangerIps.slice(), ips: this.ips.exportState(), uas: this.uas.exportState() };
  }

  static fromState(s: KeyIdentitiesState): KeyIdentities {
    if (s.strangers.length !== STRANGER_SPAN || (s.debuts !== undefined && s.debuts.length !== STRANGER_SPAN) || (s.strangerIps !== undefined && s.strangerIps.length !== STRANGER_SPAN)) throw new Error('key identities state has another shape');
    const k = new KeyIdentities(s.since);
    k.strangerMinute = s.strangerMinute;
    k.strangers.set(s.strangers);
    if (s.debuts) k.debuts.set(s.debuts);
    if (s.strangerIps) k.strangerIps.set(s.strangerIps);
    k.ips.importState(s.ips);
    k.uas.importState(s.uas);
    return k;
  }
}
