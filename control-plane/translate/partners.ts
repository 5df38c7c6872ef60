// Which partners this node trusts, and how: each partner Domain's CA (decoded
// once per certificate), what runs there (a Ferry node or a Kuscia gateway),
// and for Kuscia partners the issuer names their client certificates carry,
// with a status per Domain that says why one is not usable.
import { X509Certificate } from 'node:crypto';
import { splitPemCertificates } from '../../certs/authority.ts';
import { kusciaIssuers, kusciaIssuerClashes, partnerGatewayKind } from '../../interop/kuscia-identity.ts';
import { GATEWAY_ANNOTATION, type DomainResource } from '../resources/types.ts';
import { decodePartnerCa } from '../resources/validate.ts';
import type { GatewayKind, PartnerTrust, ResourceStatus } from './ir.ts';

export function trustedPartners(domains: DomainResource[], self: string, statuses: ResourceStatus[]): PartnerTrust[] {
  const partners: PartnerTrust[] = [];
  for (const d of domains) {
    const name = d.metadata.name;
    if (name === self) {
      statuses.push({ kind: 'Domain', name, ready: true, reason: 'this node\'s own domain' });
      continue;
    }
    if (!d.spec.cert) {
      statuses.push({ kind: 'Domain', name, ready: false, reason: `partner ${name} has no CA certificate (spec.cert is empty), so it cannot be authenticated`, fix: partnerFix(name) });
      continue;
    }
    try {
      const caPem = decodedCa(d.spec.cert);
      const gateway = gatewayKind(d, caPem);
      const issuers = gateway === 'kuscia' ? kusciaIssuers(caPem) : undefined;
      partners.push({ domain: name, caPem, gateway, ...(issuers ? { issuers } : {}) });
      statuses.push({ kind: 'Domain', name, ready: true, reason: gateway === 'ferry'
        ? `partner ${name}: its gateway certificates are verified against its CA (spiffe://${name}/...)`
        : `partner ${name} runs a Kuscia gateway (${d.metadata.annotations?.[GATEWAY_ANNOTATION] ? `${GATEWAY_ANNOTATION}` : 'its CA is not a Ferry CA'}): its gateway certificate must chain to its CA; calls are forwarded to it in the protocol they arrive in; ${issuers ? `its client certificates (MTLS) must be signed directly by its CA (issuer ${issuers.join(' or ')})` : 'its CA\'s subject has an attribute without a short name, so its client certificates cannot identify it: use Token routes for calls from it'}` });
    } catch (e) {
      // A certificate that was valid when applied may have expired since.
      statuses.push({ kind: 'Domain', name, ready: false, reason: (e as Error).message, fix: partnerFix(name) });
    }
  }
  // Two Kuscia CAs with one subject: a certificate issued under that name could come from either.
  for (const [domain, others] of kusciaIssuerClashes(partners.filter((p) => p.issuers).map((p) => ({ domain: p.domain, issuers: p.issuers! })))) {
    const p = partners.find((x) => x.domain === domain)!;
    delete p.issuers;
    const status = statuses.find((s) => s.kind === 'Domain' && s.name === domain)!;
    status.ready = false;
    status.reason = `partner ${domain}'s CA has the same subject as the CA of ${others.join(', ')}: client certificates cannot tell them apart, so neither is identified by certificate (one partner's CA never vouches for another); Token routes and calls to ${domain} still work`;
    status.fix = `check which Domain carries the right certificate (${domain} or ${others.join(', ')}) and correct spec.cert on the other`;
  }
  return partners;
}

const caMemo = new Map<string, { pem: string; notAfter: number }>();

/** A partner's gateway kind (interop/kuscia-identity.ts: the annotation, else whether its CA is a Ferry CA). */
function gatewayKind(d: DomainResource, caPem: string): GatewayKind {
  return partnerGatewayKind(d.metadata.annotations?.[GATEWAY_ANNOTATION], caPem);
}

/** decodePartnerCa, remembered until the certificate expires (then it fails again, as it must). */
export function decodedCa(cert: string): string {
  const known = caMemo.get(cert);
  if (known && known.notAfter > Date.now()) return known.pem;
  const pem = decodePartnerCa(cert);
  if (caMemo.size > 1000) caMemo.clear();
  caMemo.set(cert, { pem, notAfter: Math.min(...splitPemCertificates(pem).map((c) => new Date(new X509Certificate(c).validTo).getTime())) });
  return pem;
}

export function partnerProblem(domains: DomainResource[], domain: string): string {
  const d = domains.find((x) => x.metadata.name === domain);
  if (!d) return `partner Domain ${domain} is unknown`;
  if (!d.spec.cert) return `partner Domain ${domain} has no CA certificate (spec.cert)`;
  return `partner Domain ${domain} has an unusable CA certificate`;
}

export function partnerFix(domain: string): string {
  return `apply a Domain named ${domain} with role: partner and spec.cert = base64 of the CA that \`ferry cert export\` prints on ${domain}'s node`;
}

