/**
 * Blocks and overrides as the operator API serves them, on a ControlPlane (written exactly as
 * DESIGN.md says); a change tied to an anomaly is audited in its report. Shared by both backends:
 * StandaloneBackend (in-memory reports) and AnalyzerBackend (the analyzer's report store).
 */
import { isSecretId } from '../../models/clientKey.js';
import { overrideField, type BlockValue, type OverrideValue } from '../../models/control.js';
import type { ControlPlane } from '../../models/controlPlane.js';
import { canonicalClientIp } from '../../models/ipKey.js';
import { sidecarPartOrder } from '../clientKeyOrder.js';
import type { BlockInput, OverrideInput } from './backend.js';

/**
 * The parts a sidecar offers a block or override to match: a request's apiKey, user and ip, and the
 * `header:<name>:<value>` and `route:<path>` parts of the rules' keys (while some rule keys on them).
 */
const SIDECAR_PARTS = new Set(['apiKey', 'user', 'ip', 'header', 'route']);

export abstract class PlaneOperations {
  /**
   * `ipv6Prefix`: the policy's identity.ipv6Prefix. The `ip:` part of a client key an operator
   * writes is put in the form sidecars give that client (IPv6 as its network, `ip:2001:db8:1:2::/64`),
   * as the policy's own client keys are: a block on `ip:2001:db8:1:2::5` would never match anything.
   */
  constructor(
    protected readonly plane: ControlPlane,
    private readonly ipv6Prefix: () => number = () => 64,
  ) {}

  /**
   * The client key as sidecars form it: `ip:` parts in their key form, and a hybrid key's parts in
   * the sidecars' order (apiKey, user, ip, then others as given), so `ip:…|apiKey:…` is written, found
   * and removed as the one client it names. Anything else, `*` included, as given.
   */
  protected canonical(client: string): string {
    if (!client.includes('ip:') && !client.includes('header:')) return sidecarPartOrder(client);
    const parts = client.split('|').map((part) => {
      // header names are case-insensitive: sidecars key `header:X-Tenant` as `header:x-tenant:<value>`
      if (part.startsWith('header:')) {
        const colon = part.indexOf(':', 'header:'.length);
        return colon < 0 ? part : part.slice(0, colon).toLowerCase() + part.slice(colon);
      }
      if (!part.startsWith('ip:')) return part;
      const ip = canonicalClientIp(part.slice(3), this.ipv6Prefix());
      return ip.ok ? 'ip:' + ip.key : part;
    });
    return sidecarPartOrder(parts.join('|'));
  }

  /** The client key as sidecars form it (the API's client view looks a client up this way). */
  canonicalClient(client: string): string {
    return this.canonical(client);
  }

  /** Records `what` (by `who`, with an optional note) in the history of anomaly `id`. */
  protected abstract audit(id: string, who: string, what: string, note?: string): void | Promise<void>;

  async listBlocks(): Promise<ReadonlyMap<string, BlockValue>> {
    return (await this.plane.read()).blocks;
  }

  /**
   * Why no sidecar could ever form `client`, or null: an `ip:` part that is not an address (or is a
   * range), or an `apiKey:` part that is not a key id (a raw API key: sidecars only ever form
   * `apiKey:<16 hex>`), would be written, answered 201, and never match a request — a raw key would
   * also be stored and published in clear; so would a part of a kind no sidecar names a request by
   * (`tenant:acme`), or a `header:` part without its value. The raw value is never echoed.
   */
  clientProblem(client: string): string | null {
    if (client === '*') return null;
    for (const part of client.split('|')) {
      if (part.startsWith('apiKey:') && !isSecretId(part.slice('apiKey:'.length))) {
        return 'apiKey: must be the key id, 16 lower-case hex digits (`ratewarden key-id KEY`, or `blocks add --api-key -`), never the raw API key';
      }
      const kind = part.slice(0, part.indexOf(':'));
      if (!SIDECAR_PARTS.has(kind)) return `${kind}: is not a part sidecars name a request by (apiKey, user, ip, header:<name>:<value>, route:<path>): it would match no request`;
      if (kind === 'header' && !/^header:[^:]+:./.test(part)) return 'header: must be header:<name>:<value> (the header a rule keys on, and its value)';
      if (kind === 'route' && !/^route:[/#]/.test(part)) return 'route: must be the request path as received (route:/api/items)';
      if (!part.startsWith('ip:')) continue;
      const ip = canonicalClientIp(part.slice(3), this.ipv6Prefix());
      if (!ip.ok) return `${part}: ${ip.problem}`;
    }
    return null;
  }

  async addBlock(input: BlockInput, who: string): Promise<number> {
    const seq = await this.plane.write('block', this.canonical(input.client), { until: input.until, reason: input.reason, ...(input.anomalyId ? { anomalyId: input.anomalyId } : {}) });
    if (input.anomalyId) await this.audit(input.anomalyId, who, 'blocked');
    return seq;
  }

  async removeBlock(given: string, who: string, note?: string): Promise<boolean> {
    const client = this.canonical(given);
    const existing = (await this.plane.read()).blocks.get(client);
    if (!existing) return false;
    await this.plane.write('block', client, null);
    if (existing.anomalyId) await this.audit(existing.anomalyId, who, 'unblocked', note);
    return true;
  }

  async listOverrides(): Promise<ReadonlyMap<string, OverrideValue>> {
    return (await this.plane.read()).overrides;
  }

  async addOverride(input: OverrideInput, who: string): Promise<number> {
    const { rule, client, ...value } = input;
    const seq = await this.plane.write('override', overrideField(rule, this.canonical(client)), value);
    if (input.anomalyId) await this.audit(input.anomalyId, who, 'overridden');
    return seq;
  }

  async removeOverride(rule: string, client: string, who: string, note?: string): Promise<boolean> {
    const field = overrideField(rule, this.canonical(client));
    const existing = (await this.plane.read()).overrides.get(field);
    if (!existing) return false;
    await this.plane.write('override', field, null);
    if (existing.anomalyId) await this.audit(existing.anomalyId, who, 'override removed', note);
    return true;
  }
}
