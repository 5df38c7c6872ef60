// Fields Kuscia writes or documents that Ferry accepts but does not use: each
// resource's status says which ones are ignored and why, so a document from a
// Kuscia node applies unchanged and nobody wonders whether a field took effect.
import type { ResourceSet } from '../resources/types.ts';
import type { ResourceStatus } from './ir.ts';

type Loose = Record<string, unknown> | undefined;

const present = (o: Loose, key: string) => o !== undefined && o[key] !== undefined && o[key] !== null && o[key] !== '';

/** Ignored fields of one Domain or route spec, with the reason. */
export function ignoredFields(kind: string, spec: Loose): string[] {
  const out: string[] = [];
  if (!spec) return out;
  if (kind === 'Domain') {
    if (present(spec, 'resourceQuota')) out.push('spec.resourceQuota (Ferry runs no Kuscia workloads to limit)');
    if (present(spec, 'interConnProtocols')) out.push('spec.interConnProtocols (Ferry speaks the kuscia protocol)');
    return out;
  }
  const mtls = spec.mTLSConfig as Loose;
  if (present(mtls, 'sourceClientCert') || present(mtls, 'sourceClientPrivateKey')) out.push('spec.mTLSConfig.sourceClientCert/sourceClientPrivateKey (Ferry presents its own gateway certificate)');
  const token = spec.tokenConfig as Loose;
  if (present(token, 'destinationPublicKey') || present(token, 'sourcePublicKey')) out.push('spec.tokenConfig.destinationPublicKey/sourcePublicKey (Ferry encrypts to the keys of the Domains\' certificates)');
  return out;
}

/** Appends "ignored: ..." to the status of every resource that carries such fields. */
export function noteIgnoredFields(resources: ResourceSet, statuses: ResourceStatus[]): void {
  const all = [...resources.domains, ...resources.routes] as unknown as { kind: string; metadata: { name: string }; spec?: Loose }[];
  for (const r of all) {
    const ignored = ignoredFields(r.kind, r.spec);
    if (!ignored.length) continue;
    const i = statuses.findIndex((s) => s.kind === r.kind && s.name === r.metadata.name);
    if (i >= 0) statuses[i] = { ...statuses[i]!, reason: `${statuses[i]!.reason}; ignored: ${ignored.join('; ')}` };
  }
}
