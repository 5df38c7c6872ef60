// One bad resource never stops the others being served (issue 12 item 3).
// A resource whose translation fails, or whose Envoy configuration Envoy
// refuses (NACK), is left out of the snapshot with a status giving the cause
// (Envoy's own message) until it changes; Kuscia shapes Ferry accepts but does
// not serve are left out the same way. The rest is translated and served.
import type { Resource } from './resources/types.ts';
import type { Ir, ResourceStatus } from './translate/ir.ts';
import { acceptanceConditions, notServedReason, type AcceptanceCondition } from './resources/conditions.ts';

export const resourceKey = (r: { kind: string; metadata: { name: string } }) => `${r.kind}/${r.metadata.name}`;

// The store hands out the same object until the resource changes: memoise per object.
const fingerprints = new WeakMap<object, string>();
export function fingerprint(r: Resource): string {
  let f = fingerprints.get(r);
  if (f === undefined) {
    f = JSON.stringify([r.metadata.annotations, r.metadata.labels, r.spec]);
    fingerprints.set(r, f);
  }
  return f;
}

interface Entry { fingerprint: string; reason: string; fix: string }

export class Quarantine {
  private readonly entries = new Map<string, Entry>();

  /**
   * Splits the stored resources into those to translate and statuses for
   * those left out. A quarantined resource that changed (or went) is let back.
   */
  select(all: readonly Resource[], self: string): { keep: Resource[]; left: ResourceStatus[]; conditions: Map<string, AcceptanceCondition[]> } {
    const keep: Resource[] = [];
    const left: ResourceStatus[] = [];
    const conditions = new Map<string, AcceptanceCondition[]>();
    const present = new Set<string>();
    for (const r of all) {
      const key = resourceKey(r);
      present.add(key);
      const c = acceptanceConditions(r, self);
      if (c.length) conditions.set(key, c);
      const notServed = notServedReason(c);
      const entry = this.entries.get(key);
      if (entry && entry.fingerprint !== fingerprint(r)) this.entries.delete(key);
      const held = this.entries.get(key);
      if (notServed) left.push({ kind: r.kind, name: r.metadata.name, ready: false, reason: `not served: ${notServed}`, fix: 'change the fields named above (Kuscia accepts them; Ferry does not serve them)' });
      else if (held) left.push({ kind: r.kind, name: r.metadata.name, ready: false, reason: held.reason, fix: held.fix, isolated: true });
      else keep.push(r);
    }
    for (const key of this.entries.keys()) if (!present.has(key)) this.entries.delete(key);
    return { keep, left, conditions };
  }

  add(r: Resource, reason: string, fix: string): void {
    this.entries.set(resourceKey(r), { fingerprint: fingerprint(r), reason, fix });
  }

  get size(): number {
    return this.entries.size;
  }
}

/** The resources among `now` that are new or changed since `before` (key -> fingerprint). */
export function changedSince(now: readonly Resource[], before: ReadonlyMap<string, string> | undefined): Resource[] {
  if (!before) return [];
  return now.filter((r) => before.get(resourceKey(r)) !== fingerprint(r));
}

export function fingerprintsOf(resources: readonly Resource[]): Map<string, string> {
  return new Map(resources.map((r) => [resourceKey(r), fingerprint(r)]));
}

/** Envoy resource names that belong to exactly one Ferry resource (clusters of services and peers, local-port listeners). */
export function provenance(ir: Ir): Map<string, string> {
  const out = new Map<string, string>();
  for (const s of ir.services) out.set(s.cluster, `Service/${s.name}`);
  for (const p of ir.peers) {
    out.set(p.cluster, p.route);
    for (const m of p.localPorts) out.set(`local-port-${m.port}`, p.route); // listener names of control-plane/xds/listeners.ts
  }
  return out;
}

/** The Ferry resources an Envoy error message names (by their own Envoy resources' names). */
export function namedIn(message: string, names: ReadonlyMap<string, string>): string[] {
  const found = new Set<string>();
  for (const [envoyName, key] of names) {
    let at = message.indexOf(envoyName);
    while (at >= 0) {
      const before = message[at - 1] ?? ' ';
      const after = message[at + envoyName.length] ?? ' ';
      if (!/[\w-]/.test(before) && !/[\w-]/.test(after)) {
        found.add(key);
        break;
      }
      at = message.indexOf(envoyName, at + 1);
    }
  }
  return [...found];
}
