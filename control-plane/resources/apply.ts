// Apply a batch of documents: validate all of them first, then store them in
// one transaction, so a bad document changes nothing.
import type { ApplyAction, Store } from '../store/store.ts';
import type { Kind } from './types.ts';
import { validateResource, type ValidationContext } from './validate.ts';

export class ApplyError extends Error {}

export function applyDocuments(store: Store, docs: readonly unknown[], ctx: ValidationContext): { kind: Kind; name: string; action: ApplyAction }[] {
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
  }
  return store.apply(resources);
}
