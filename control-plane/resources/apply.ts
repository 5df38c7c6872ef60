// Apply a batch of documents: validate all of them first, then store them in
// one transaction, so a bad document changes nothing. An apply is
// last-writer-wins (a resourceVersion in the document, e.g. from `kubectl get
// -o yaml`, is ignored); `replace` writes only over the version it names.
import { isDeepStrictEqual } from 'node:util';
import type { ApplyResult, ResourceStore } from '../store/store.ts';
import { decodePartnerCa, validateResource, type ValidationContext } from './validate.ts';
import { GATEWAY_ANNOTATION, type DomainResource, type Resource } from './types.ts';
import { kusciaIssuerClashes, kusciaIssuers, partnerGatewayKind } from '../../interop/kuscia-identity.ts';
import { sealSourceSpec } from '../datamesh/secrets.ts';
import type { DomainDataSourceSpec } from '../datamesh/spec.ts';

export class ApplyError extends Error {}

export async function applyDocuments(store: Pick<ResourceStore, 'apply' | 'get' | 'list'>, docs: readonly unknown[], ctx: ValidationContext, mode: 'apply' | 'replace' = 'apply'): Promise<ApplyResult[]> {
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
  await refuseKusciaIssuerClash(store, resources, ctx.domain);
  return store.apply(resources);
}

const issuerMemo = new Map<string, string[] | undefined>();

/** A Kuscia partner Domain's CA subjects (undefined for a Ferry partner or an unusable certificate), remembered per certificate. */
function kusciaIssuersOf(d: DomainResource): string[] | undefined {
  const key = `${d.metadata.annotations?.[GATEWAY_ANNOTATION] ?? ''}|${d.spec.cert ?? ''}`;
  if (issuerMemo.has(key)) return issuerMemo.get(key);
  let issuers: string[] | undefined;
  try {
    const pem = decodePartnerCa(d.spec.cert ?? '');
    issuers = partnerGatewayKind(d.metadata.annotations?.[GATEWAY_ANNOTATION], pem) === 'kuscia' ? kusciaIssuers(pem) : undefined;
  } catch {
    issuers = undefined; // an unusable stored certificate is its own Domain's problem (its status says so)
  }
  if (issuerMemo.size > 5000) issuerMemo.clear();
  issuerMemo.set(key, issuers);
  return issuers;
}

/**
 * Kuscia partners' client certificates are told apart by their CA's subject
 * (interop/kuscia-identity.ts): a partner Domain whose Kuscia CA has another
 * Kuscia partner's CA subject is refused, or one partner's CA could vouch for
 * the other. (A clash that reaches the store anyway identifies neither.)
 */
async function refuseKusciaIssuerClash(store: Pick<ResourceStore, 'list'>, resources: Resource[], self: string): Promise<void> {
  const incoming = resources.filter((r): r is DomainResource => r.kind === 'Domain' && r.metadata.name !== self && !!r.spec.cert);
  if (!incoming.length) return;
  const names = new Set(incoming.map((d) => d.metadata.name));
  const stored = (await store.list('Domain')).items.filter((d) => !names.has(d.metadata.name) && d.metadata.name !== self) as unknown as DomainResource[];
  const partners = [...stored, ...incoming].flatMap((d) => {
    const issuers = kusciaIssuersOf(d);
    return issuers ? [{ domain: d.metadata.name, issuers }] : [];
  });
  const clashes = kusciaIssuerClashes(partners);
  for (const d of incoming) {
    const others = clashes.get(d.metadata.name);
    if (!others) continue;
    const subject = partners.find((p) => p.domain === d.metadata.name)!.issuers.join(', ');
    throw new ApplyError(`Domain/${d.metadata.name}: spec.cert: its CA has the subject ${subject}, as the CA of Domain ${others.join(', ')}: Ferry tells Kuscia partners' client certificates apart by their CA's subject, so one partner's CA could vouch for the other; check which Domain carries the right certificate (a Kuscia domain certificate is CN=<domain id>)`);
  }
}
