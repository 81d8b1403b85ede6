/**
 * A hybrid client key (`apiKey:…|ip:…`) names a set of identities; sidecars form it in the order
 * apiKey, user, ip and match a control-plane field in any part order (sidecar/control/controlState.ts).
 * One spelling per client, so the analyzer and the operator API compare and write it as sidecars
 * form it.
 */

const RANK = new Map<string, number>([
  ['apiKey', 0],
  ['user', 1],
  ['ip', 2],
]);

function rankOf(part: string): number {
  const colon = part.indexOf(':');
  return (colon > 0 ? RANK.get(part.slice(0, colon)) : undefined) ?? RANK.size;
}

/** `key` with its parts in the sidecars' order: apiKey, user, ip, then any others in the order given. */
export function sidecarPartOrder(key: string): string {
  if (!key.includes('|')) return key;
  return key
    .split('|')
    .map((part, i) => ({ part, rank: rankOf(part), i }))
    .sort((a, b) => a.rank - b.rank || a.i - b.i)
    .map((p) => p.part)
    .join('|');
}
