// Apply a batch of documents: validate all of them first, then store them in
// one transaction, so a bad document changes nothing. An apply is
// last-writer-wins (a resourceVersion in the document, e.g. from `kubectl get
// -o yaml`, is ignored); `replace` writes only over the version it names.
import { isDeepStrictEqual } from 'node:util';
import type { ApplyResult, ResourceStore } from '../store/store.ts';
import { validateResource, type ValidationContext } from './validate.ts';
import { sealSourceSpec } from '../datamesh/secrets.ts';
import type { DomainDataSourceSpec } from '../datamesh/spec.ts';

export class ApplyError extends Error {}

export async function applyDocuments(store: Pick<ResourceStore, 'apply' | 'get'>, docs: readonly unknown[], ctx: ValidationContext, mode: 'apply' | 'replace' = 'apply'): Promise<ApplyResult[]> {
  if (docs.length === 0) throw new ApplyError('no resources given: the input holds no documents');
  const resources = docs.map((doc, i) => {
    try {
      return validateResource(doc, ctx);
    } catch (e) {
      const d = doc as { kind?: unknown; metadata?: { name?: unknown } } | null;
      const label = d && typeof d === 'object' && d.kind ? ` (${String(d.kind)}/${String(d.metadata?.name ?? '?')})` : '';
      throw new ApplyError(`document ${i + 1}${label}: ${(e as Error).message}`);
    }
  });
  const seen = new Set<string>();
  for (const r of resources) {
    const key = `${r.kind}/${r.metadata.name}`;
    if (seen.has(key)) throw new ApplyError(`${key} appears twice in the input: keep one`);
    seen.add(key);
    if (mode === 'apply') delete r.metadata.resourceVersion;
    else if (!r.metadata.resourceVersion) throw new ApplyError(`${key}: metadata.resourceVersion is required to replace (the version you read, from \`ferry get -o yaml\`)`);
  }
  // Every party's records are bound to a job's spec: it never changes once created.
  for (const r of resources) {
    if (r.kind !== 'KusciaJob') continue;
    const existing = await store.get('KusciaJob', r.metadata.name);
    if (existing && !isDeepStrictEqual(existing.spec, r.spec)) {
      throw new ApplyError(`KusciaJob/${r.metadata.name}: a job's spec cannot change once created (every party holds its hash): delete the job and create another, or restart it`);
    }
  }
  // A data source's credentials are sealed before the store sees them (datamesh/secrets.ts).
  for (const r of resources) {
    if (r.kind !== 'DomainDataSource') continue;
    const existing = await store.get('DomainDataSource', r.metadata.name);
    try {
      r.spec = sealSourceSpec(r.metadata.name, r.spec as unknown as DomainDataSourceSpec, existing?.spec as DomainDataSourceSpec | undefined, ctx.sourceKey) as unknown as Record<string, unknown>;
    } catch (e) {
      throw new ApplyError((e as Error).message);
    }
  }
  return store.apply(resources);
}
