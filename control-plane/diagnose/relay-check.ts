// Asks a relay directly whether it carries this node's tunnel to a
// destination. Through the data path a relay's refusal (403/404 on the CONNECT)
// only shows as a TLS failure: the TLS session to the destination never
// starts. The node dials the relay as its Envoy does (its gateway certificate,
// its partner ALPN token, the relay's CA) and reads the relay's own answer.
import { connect } from 'node:tls';
import type { Ir } from '../translate/ir.ts';
import { partnerAlpn, relayHost } from '../xds/common.ts';

export interface RelayHop {
  relay: string;
  host: string;
  port: number;
  sni: string;
  caPem: string;
}

/** The first hop of each relayed peer, from the translation. */
export function relayHops(ir: Ir): Map<string, RelayHop> {
  const hops = new Map<string, RelayHop>();
  for (const p of ir.peers) {
    if (p.path.kind !== 'relay') continue;
    const relay = p.path.relay;
    const link = ir.peers.find((q) => q.domain === relay && q.path.kind === 'direct' && q.auth === 'MTLS');
    if (link) hops.set(p.domain, { relay, host: link.host, port: link.port, sni: link.sni, caPem: link.caPem });
  }
  return hops;
}

/**
 * CONNECT ferry-relay.<destination>.svc at the relay. Resolves to the relay's
 * refusal ("relay carol answered 403: carol/public => ...") or undefined when
 * the relay accepts (the problem is further on) or cannot be asked.
 */
export function askRelay(self: string, destination: string, hop: RelayHop, credentials: { certPem: string; keyPem: string }, timeoutMs = 5000): Promise<string | undefined> {
  return new Promise((resolve) => {
    const socket = connect({
      host: hop.host, port: hop.port, servername: hop.sni, ca: hop.caPem, cert: credentials.certPem, key: credentials.keyPem,
      ALPNProtocols: ['http/1.1', partnerAlpn(self)],
      // The relay's identity is its CA (trusted for it alone); the name check is the SPIFFE SAN Envoy checks on the data path.
      checkServerIdentity: () => undefined,
    }, () => {
      const target = relayHost(destination);
      socket.write([`CONNECT ${target}:443 HTTP/1.1`, `Host: ${target}:443`, `Kuscia-Host: ${target}`, `Kuscia-Source: ${self}`, `Kuscia-Origin-Source: ${self}`, 'x-interconn-protocol: kuscia', '', ''].join('\r\n'));
    });
    let head = '';
    const done = (v: string | undefined) => { socket.destroy(); resolve(v); };
    socket.setTimeout(timeoutMs, () => done(undefined));
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => {
      head += d;
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return;
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0);
      if (status === 200) return done(undefined);
      const message = /\r\nkuscia-error-message: ([^\r\n]*)/i.exec(head.slice(0, end))?.[1];
      done(`relay ${hop.relay} answered ${status}${message ? `: ${message}` : ''}`);
    });
    socket.on('error', () => done(undefined));
  });
}
