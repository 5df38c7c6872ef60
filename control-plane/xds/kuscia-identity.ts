// Kuscia partners calling with a client certificate (MTLS) on the public
// listener's default chain: which CAs that chain trusts, and the filter that
// turns a verified certificate into the caller's identity header.
//
// Why this shape (interop/kuscia-identity.ts has the certificate side): a
// Kuscia gateway offers no ALPN token and no SNI of its own, so it can only
// land on the default chain; its certificate has no SPIFFE URI, so Envoy's
// SPIFFE validator (which binds each CA to one trust domain) refuses it. The
// chain therefore trusts the Kuscia partners' CAs with a plain validation
// context, at depth 1 (leaf signed directly by one of them: an intermediate
// carol's CA signed and named "CN=kalice" is refused), and a Lua filter maps
// the leaf's issuer name to spiffe://<partner>/ferry/gateway in the identity
// header routes and RBAC already read, overwriting whatever the URI SAN said
// (a trusted Kuscia CA may put any URI in a certificate). Envoy has no other
// way to map a certificate attribute to a value before routing.
import type { Ir, PartnerTrust } from '../translate/ir.ts';
import { spiffeId } from './envoy-types.ts';
import { type J, PEER_IDENTITY } from './common.ts';

/** Kuscia partners identified by certificate (issuers known, no clash). */
export const kusciaCertPartners = (ir: Ir): (PartnerTrust & { issuers: string[] })[] =>
  ir.partners.filter((p): p is PartnerTrust & { issuers: string[] } => p.gateway === 'kuscia' && !!p.issuers?.length);

/** The default chain's validation: the Kuscia partners' CAs, a leaf signed directly by one of them. */
export function kusciaValidation(ir: Ir): J {
  return {
    validation_context: {
      trusted_ca: { inline_string: kusciaCertPartners(ir).map((p) => p.caPem.trimEnd() + '\n').join('') },
      max_verify_depth: 1,
    },
  };
}

const luaString = (s: string) => JSON.stringify(s); // printable ASCII only (issuers are escaped RFC 2253): JSON's escapes are Lua's

/** Sets the identity header from the verified certificate's issuer; removes it otherwise. Runs first, then routing is redone. */
export function kusciaIdentityFilter(ir: Ir): J {
  const table = kusciaCertPartners(ir).flatMap((p) => p.issuers.map((i) => `[${luaString(i)}] = ${luaString(spiffeId(p.domain))}`)).join(',\n  ');
  const code = `local ids = {
  ${table}
}
function envoy_on_request(h)
  local ssl = h:streamInfo():downstreamSslConnection()
  local id = nil
  if ssl ~= nil and ssl:peerCertificateValidated() then id = ids[ssl:issuerPeerCertificate()] end
  h:headers():remove(${luaString(PEER_IDENTITY)})
  if id ~= nil then h:headers():add(${luaString(PEER_IDENTITY)}, id) end
  h:clearRouteCache()
end
`;
  return { name: 'envoy.filters.http.lua', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.lua.v3.Lua', default_source_code: { inline_string: code } } };
}
