// `ferry store migrate --to etcd://...|embedded`: copies every object (spec,
// then status) from the node's store into another, then points ferry.yaml at
// it. Idempotent: a target that already holds the same objects is just
// switched to. A target holding anything else is refused unless `force`
// (then it is made an exact copy). The source is left as it was: it is the
// way back.
import { isDeepStrictEqual } from 'node:util';
import type { ResourceStore, StoredResource } from './store.ts';

export interface MigrateResult { copied: number; deleted: number; alreadyThere: boolean }

const key = (r: { kind: string; metadata: { name: string } }) => `${r.kind}/${r.metadata.name}`;
const same = (a: StoredResource, b: StoredResource) => {
  const strip = (r: StoredResource) => ({ ...r, metadata: { ...r.metadata, resourceVersion: '', generation: 0, creationTimestamp: '' }, status: r.status ? { ...r.status, observedGeneration: undefined } : undefined });
  return isDeepStrictEqual(JSON.parse(JSON.stringify(strip(a))), JSON.parse(JSON.stringify(strip(b))));
};

export async function migrateObjects(from: ResourceStore, to: ResourceStore, force: boolean): Promise<MigrateResult> {
  const source = (await from.list()).items;
  const target = (await to.list()).items;
  const wanted = new Map(source.map((r) => [key(r), r]));
  const extra = target.filter((t) => !wanted.has(key(t)));
  const differs = target.filter((t) => wanted.has(key(t)) && !same(wanted.get(key(t))!, t));
  const missing = source.filter((s) => !target.some((t) => key(t) === key(s)));
  if (!extra.length && !differs.length && !missing.length) return { copied: 0, deleted: 0, alreadyThere: true };
  if (target.length && !force) {
    throw new Error(`the target ${to.info.location} already holds ${target.length} object(s) (${[...extra, ...differs].slice(0, 3).map(key).join(', ') || target.slice(0, 3).map(key).join(', ')}${target.length > 3 ? ', ...' : ''}) that are not this store's: migrate into an empty store, or add --force to make it an exact copy of this one (what it holds now is lost)`);
  }
  for (const t of extra) await to.delete(t.kind, t.metadata.name);
  const toCopy = [...missing, ...differs.map((t) => wanted.get(key(t))!)];
  // Specs in one transaction (all or nothing), then each status as it was.
  await to.apply(toCopy.map((r) => { const { status: _s, ...spec } = r; return { ...spec, metadata: { ...spec.metadata, resourceVersion: undefined } } as never; }));
  for (const r of toCopy) {
    if (!r.status) continue;
    const now = await to.get(r.kind, r.metadata.name);
    if (!now) continue;
    // observedGeneration is about this object's spec: keep "up to date" true across the copy.
    const observed = r.status.observedGeneration === r.metadata.generation ? now.metadata.generation : r.status.observedGeneration;
    await to.updateStatus(r.kind, r.metadata.name, { ...r.status, ...(observed !== undefined ? { observedGeneration: observed } : {}) });
  }
  return { copied: toCopy.length, deleted: extra.length, alreadyThere: false };
}
