// Conditions on an accepted resource: Kuscia fields Ferry keeps but does not
// use, shapes it accepts and does not serve, and warnings. A document a Kuscia
// node produces is never refused (issue 13.4); what Ferry does with each field
// is said here, on the resource's status. Pure: resource in, conditions out.
import type { Resource, RouteResource } from './types.ts';

export interface AcceptanceCondition {
  /** Ignored: kept, no effect. Warning: served, read this. NotServed: left out of Envoy's configuration. */
  type: 'Ignored' | 'Warning' | 'NotServed';
  field: string;
  message: string;
}

export function acceptanceConditions(r: Resource, self: string): AcceptanceCondition[] {
  const out: AcceptanceCondition[] = [];
  const ignored = (field: string, why: string) => out.push({ type: 'Ignored', field, message: `kept, not used by Ferry: ${why}` });
  if (r.kind === 'Domain') {
    if (r.spec.resourceQuota) ignored('spec.resourceQuota', 'Ferry runs no pods');
    if (r.spec.interConnProtocols) ignored('spec.interConnProtocols', 'Ferry speaks the kuscia protocol with every partner');
    if (r.spec.authCenter) ignored('spec.authCenter', 'each route\'s authenticationType decides how a partner is authenticated');
    if (r.spec.master) ignored('spec.master', 'a Ferry node has no master');
    return out;
  }
  if (r.kind !== 'ClusterDomainRoute' && r.kind !== 'DomainRoute') return out;
  return routeConditions(r, self, out, ignored);
}

function routeConditions(r: RouteResource, self: string, out: AcceptanceCondition[], ignored: (field: string, why: string) => void): AcceptanceCondition[] {
  const { spec } = r;
  const token = spec.authenticationType === 'Token';
  const outbound = spec.source === self;
  const reverse = spec.transit?.transitMethod === 'REVERSE-TUNNEL';
  if (outbound && !spec.endpoint && !spec.transit) {
    out.push({ type: 'NotServed', field: 'spec.endpoint', message: `is missing: Ferry dials ${spec.destination}'s gateway at the endpoint; add spec.endpoint {host, ports} (a Kuscia lite node's route to its master has none)` });
  }
  if (spec.interConnProtocol === 'bfia') {
    out.push({ type: 'NotServed', field: 'spec.interConnProtocol', message: 'bfia is not supported by Ferry: this route is not served; use interConnProtocol: kuscia' });
  }
  if (token && spec.tokenConfig?.tokenGenMethod !== 'RSA-GEN') {
    out.push({ type: 'NotServed', field: 'spec.tokenConfig.tokenGenMethod', message: `${spec.tokenConfig?.tokenGenMethod} is not supported by Ferry: this route is not served; use RSA-GEN` });
  }
  if (!token && spec.tokenConfig) ignored('spec.tokenConfig', 'it applies to authenticationType Token only');
  if (spec.tokenConfig?.destinationPublicKey !== undefined) ignored('spec.tokenConfig.destinationPublicKey', `Ferry takes ${spec.destination}'s key from Domain ${spec.destination} spec.cert`);
  if (spec.tokenConfig?.sourcePublicKey !== undefined) ignored('spec.tokenConfig.sourcePublicKey', `Ferry takes ${spec.source}'s key from Domain ${spec.source} spec.cert`);
  if (spec.mTLSConfig?.sourceClientCert) ignored('spec.mTLSConfig.sourceClientCert', outbound ? 'the gateway presents its own certificate, issued by this domain\'s CA' : `${spec.source}'s client certificate is verified against Domain ${spec.source} spec.cert (any certificate that CA signed directly)`);
  if (spec.mTLSConfig?.sourceClientPrivateKey) ignored('spec.mTLSConfig.sourceClientPrivateKey', 'the gateway uses its own key (remove this private key from the document: it is stored as given)');
  const tlsCaUsed = outbound && token && spec.endpoint?.ports.every((p) => p.isTLS !== false);
  if (spec.mTLSConfig?.tlsCA && !tlsCaUsed) {
    ignored('spec.mTLSConfig.tlsCA', token ? 'the link is plain (isTLS: false) or this is not the outbound side' : `Ferry verifies ${outbound ? spec.destination : spec.source}'s gateway with the CA in its Domain spec.cert`);
  }
  if (spec.bodyEncryption) ignored('spec.bodyEncryption', 'Ferry does not encrypt bodies; the link is protected by TLS (or not at all with isTLS: false)');
  if (spec.sourceWhiteIPList?.length) {
    out.push({ type: 'Warning', field: 'spec.sourceWhiteIPList', message: 'the source IP allow-list is NOT enforced by Ferry: partners are admitted by certificate or token; restrict source IPs at the network' });
  }
  if (reverse && spec.endpoint) ignored('spec.endpoint', `${spec.destination} dials in over the reverse tunnel; nothing is dialled`);
  if (token && spec.transit?.transitMethod === 'THIRD-DOMAIN') {
    out.push({ type: 'Warning', field: 'spec.transit', message: `Token through the relay ${spec.transit.domain?.domainID}: relayed hop by hop, so the relay can read the traffic (use MTLS for end-to-end encryption through a relay)` });
  }
  if (token && !reverse && spec.endpoint?.ports.some((p) => p.isTLS === false)) {
    out.push({ type: 'Warning', field: 'spec.endpoint.ports.isTLS', message: 'link not encrypted: isTLS is false, so calls and tokens cross the network in clear text; set isTLS: true with a TLS endpoint' });
  }
  return out;
}

/** The conditions that keep a resource out of Envoy's configuration. */
export function notServedReason(conditions: readonly AcceptanceCondition[]): string | undefined {
  const blocking = conditions.filter((c) => c.type === 'NotServed');
  return blocking.length ? blocking.map((c) => `${c.field}: ${c.message}`).join('; ') : undefined;
}
