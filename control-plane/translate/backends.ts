// Service backends: the Envoy cluster Services share when they have the same
// protocol, addresses and port (10k Services on a few engines: a few clusters).
import { createHash } from 'node:crypto';
import type { LocalService } from './ir.ts';

/**
 * Which Envoy cluster a Service's requests go on: the Services of one backend
 * (same protocol, addresses and port: 10k Services on a few engines) share
 * one, named by that backend, so a Service never changes cluster when others
 * come and go (a renamed cluster would be removed under its in-flight
 * requests). A Service alone on its backend has its statistics and access
 * logs say service-<name> (alt_stat_name), shared ones the backend. Pure:
 * computed from the Services of this translation, no reference counts.
 */
export function sharedBackends(services: LocalService[]): LocalService[] {
  const keys = services.map(backendKey);
  const users = new Map<string, number>();
  for (const k of keys) users.set(k, (users.get(k) ?? 0) + 1);
  return services.map((s, i) => (users.get(keys[i]!)! > 1 ? onBackendCluster(s) : s));
}

/** Everything the Envoy cluster of a Service depends on (clusters.ts serviceCluster); once per stored Service. */
const backendKeys = new WeakMap<LocalService, string>();
function backendKey(s: LocalService): string {
  let key = backendKeys.get(s);
  if (key === undefined) backendKeys.set(s, key = `${s.protocol}|${s.addresses.join(',')}|${s.port}`);
  return key;
}

const onShared = new WeakMap<LocalService, LocalService>();
/** The Service on its backend's shared cluster: one object per stored Service, so translation memos keep hitting. */
function onBackendCluster(s: LocalService): LocalService {
  let shared = onShared.get(s);
  if (!shared) onShared.set(s, shared = { ...s, statName: s.cluster });
  return shared;
}

/** backend-<addresses>-<port>-<protocol>; dots become "_" (Envoy's stat tags end a cluster name at the first dot). */
export function backendClusterName(s: Pick<LocalService, 'protocol' | 'addresses' | 'port'>): string {
  const hosts = s.addresses.join('+');
  const safe = hosts.replace(/\./g, '_');
  // Any other character (or a "_" already there) would make two backends' names collide: a hash keeps them apart.
  const exact = /^[A-Za-z0-9.+-]*$/.test(hosts) ? '' : `-${createHash('sha256').update(hosts).digest('hex').slice(0, 8)}`;
  return `backend-${safe.replace(/[^A-Za-z0-9_+-]/g, '_')}${exact}-${s.port}-${s.protocol.toLowerCase()}`;
}

